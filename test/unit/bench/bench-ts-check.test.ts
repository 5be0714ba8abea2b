// bench/ is JavaScript type-checked by `npm run lint:bench` (tsc -p bench/tsconfig.json), which
// checks only the files that ask for it: every one must.

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const BENCH = join(__dirname, '..', '..', '..', '..', 'bench');

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry =>
    entry.isDirectory()
      ? modules(join(dir, entry.name))
      : entry.name.endsWith('.mjs')
        ? [join(dir, entry.name)]
        : [],
  );
}

describe('bench: type-checked', () => {
  it('opens every bench module with // @ts-check', () => {
    const files = modules(BENCH);
    assert.ok(files.length > 20, `${files.length} modules found`);
    const unchecked = files.filter(
      file => !readFileSync(file, 'utf8').startsWith('// @ts-check\n'),
    );
    assert.deepEqual(
      unchecked.map(file => relative(BENCH, file)),
      [],
    );
  });
});
