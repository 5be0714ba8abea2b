// docs/configuration.md holds the configuration reference rendered from the schema, so the
// documented settings cannot drift from the code (`npm run docs` rewrites it).

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigReference } from '../../../src/config/config-reference';
import { schema } from '../../../src/config/schema';
import { DOCS_DIR } from '../../helpers/doc-recipes';

const PAGE = readFileSync(join(DOCS_DIR, 'configuration.md'), 'utf8');

describe('docs/configuration.md', () => {
  it('holds the configuration reference rendered from the schema (npm run docs)', () => {
    const generated =
      /<!-- config-reference:start [^\n]*-->\n([\s\S]*?)\n<!-- config-reference:end -->/;
    const table = generated.exec(PAGE)?.[1];
    assert.ok(table !== undefined, 'the markers npm run docs writes between');
    assert.equal(table, renderConfigReference(), 'the config table is stale: npm run docs');
  });

  it('names every setting and its environment variable', () => {
    for (const [key, setting] of Object.entries(schema)) {
      assert.ok(PAGE.includes(`\`${key}\``), key);
      assert.ok(PAGE.includes(`\`${setting.env}\``), setting.env);
    }
  });
});
