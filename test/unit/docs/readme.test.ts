// The README is part of the contract: its configuration table is the schema's, and its quick
// start is the two commands CI and newcomers run.

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigReference } from '../../../src/config/config-reference';
import { schema } from '../../../src/config/schema';

const README = readFileSync(join(__dirname, '..', '..', '..', '..', 'README.md'), 'utf8');

describe('README', () => {
  it('holds the configuration reference rendered from the schema (npm run docs)', () => {
    assert.ok(
      README.includes(renderConfigReference()),
      'README config table is stale: npm run docs',
    );
  });

  it('names every setting and its environment variable', () => {
    for (const [key, setting] of Object.entries(schema)) {
      assert.ok(README.includes(`\`${key}\``), key);
      assert.ok(README.includes(`\`${setting.env}\``), setting.env);
    }
  });

  it('starts with the demo command and the test command', () => {
    const firstBlock = /```(?:sh|bash)?\n([\s\S]*?)```/.exec(README)?.[1] ?? '';
    const commands = firstBlock
      .split('\n')
      .map(line => line.replace(/#.*$/, '').trim())
      .filter(Boolean);
    assert.deepEqual(commands, ['npm ci && npm run demo', 'npm run setup && npm test']);
  });
});
