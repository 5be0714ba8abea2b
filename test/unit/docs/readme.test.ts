// The README is part of the contract: it starts with the two commands CI and newcomers run, reads
// in five minutes, names only real settings, and leads to every page of docs/.

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schema } from '../../../src/config/schema';
import { DOCS_DIR, REPO_ROOT } from '../../helpers/doc-recipes';
import { relativeLinks } from '../../helpers/markdown-links';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** The rows of the README table under `## <heading>`, as cells with the code ticks removed. */
function tableRows(heading: string): string[][] {
  const start = README.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has a "## ${heading}" section`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end)
    .split('\n')
    .filter(line => line.startsWith('| '))
    .slice(2)
    .map(line =>
      line
        .slice(2, -2)
        .split(' | ')
        .map(cell => cell.replace(/`/g, '')),
    );
}

describe('README', () => {
  it('starts with the demo command and the test command', () => {
    const firstBlock = /```(?:sh|bash)?\n([\s\S]*?)```/.exec(README)?.[1] ?? '';
    const commands = firstBlock
      .split('\n')
      .map(line => line.replace(/#.*$/, '').trim())
      .filter(Boolean);
    assert.deepEqual(commands, ['npm ci && npm run demo', 'npm run setup && npm test']);
  });

  it('is short enough to read in five minutes (under 350 lines)', () => {
    assert.ok(README.split('\n').length < 350, `${README.split('\n').length} lines`);
  });

  it('names in its everyday settings only real settings, each with its environment variable', () => {
    const settings = schema as Record<string, { env: string }>;
    const rows = tableRows('Everyday settings');
    assert.ok(rows.length > 0, 'the table has rows');
    for (const [key = '', env] of rows) {
      assert.ok(Object.hasOwn(settings, key), `${key} is a setting`);
      assert.equal(env, settings[key]?.env, `${key}'s environment variable`);
    }
  });

  it('links every page of docs/', () => {
    const linked = new Set(relativeLinks(README).map(link => link.target.split('#')[0]));
    for (const page of readdirSync(DOCS_DIR).filter(name => name.endsWith('.md'))) {
      assert.ok(linked.has(`docs/${page}`), `README links docs/${page}`);
    }
  });
});
