// docs/development.md's table of the demo emulator's User-Agent triggers is the emulator's own list,
// in its order (first match wins), so the commands a newcomer tries do what the page says.

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMULATED_THREATS } from '../../../src/emulator/rti-emulator';
import { DOCS_DIR } from '../../helpers/doc-recipes';

const PAGE = readFileSync(join(DOCS_DIR, 'development.md'), 'utf8');

describe('docs/development.md emulator table', () => {
  it('lists every User-Agent trigger with its threat type code, in the emulator order', () => {
    const rows = PAGE.split('\n')
      .filter(line => /^\| `/.test(line))
      .map(line => line.split(' | '));
    const documented = rows.flatMap(([needles = '', type = '']) =>
      [...needles.matchAll(/`([^`]+)`/g)].map(match => [match[1], Number(type.split(' ')[0])]),
    );
    assert.deepEqual(documented, EMULATED_THREATS);
  });
});
