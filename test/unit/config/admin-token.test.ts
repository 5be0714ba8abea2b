// admin_token / admin_token_file: off by default, read inline or from a file like the other
// secrets, at least 32 visible ASCII characters, never a flag, never printed.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfigCommand } from '../../../src/cli/check-config-command';
import { ConfigError, loadConfig, type AppConfig } from '../../../src/config/load-config';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'api-key-1',
  CHEQ_TAG_HASH: 'tag-hash-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};
const TOKEN = 'admin-token-0123456789abcdefghijKLMN';

function load(env: Record<string, string>, args: string[] = []): AppConfig {
  return loadConfig({ env: { ...REQUIRED, ...env }, args });
}

function problemsOf(env: Record<string, string>, args: string[] = []): string[] {
  try {
    load(env, args);
  } catch (err: unknown) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  assert.fail('expected a ConfigError');
}

describe('admin_token', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cheq-admin-token-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  it('is off by default', () => {
    assert.equal(load({}).adminToken, undefined);
  });

  it('is read inline or from its file (trimmed, like the other secrets)', () => {
    assert.equal(load({ CHEQ_ADMIN_TOKEN: TOKEN }).adminToken, TOKEN);
    const path = file('token', `${TOKEN}\n`);
    assert.equal(load({ CHEQ_ADMIN_TOKEN_FILE: path }).adminToken, TOKEN);
    assert.equal(load({}, ['--admin-token-file', path]).adminToken, TOKEN);
  });

  const refused: readonly [string, Record<string, string>, RegExp][] = [
    [
      'shorter than 32 characters',
      { CHEQ_ADMIN_TOKEN: 'short-token-31-characters-long!' },
      /^admin_token \(CHEQ_ADMIN_TOKEN\): must be at least 32 characters$/,
    ],
    [
      'with a space',
      { CHEQ_ADMIN_TOKEN: `${TOKEN} x` },
      /^admin_token \(CHEQ_ADMIN_TOKEN\): must be visible ASCII characters only \(no spaces\)$/,
    ],
    [
      'with a non-ASCII character',
      { CHEQ_ADMIN_TOKEN: `${TOKEN}é` },
      /^admin_token \(CHEQ_ADMIN_TOKEN\): must be visible ASCII/,
    ],
    [
      'both inline and from a file',
      { CHEQ_ADMIN_TOKEN: TOKEN, CHEQ_ADMIN_TOKEN_FILE: '/dev/null' },
      /^admin_token \(CHEQ_ADMIN_TOKEN\) and admin_token_file \(CHEQ_ADMIN_TOKEN_FILE\): set only one$/,
    ],
    [
      'from a file that does not exist',
      { CHEQ_ADMIN_TOKEN_FILE: '/nonexistent/admin-token' },
      /^admin_token_file \(CHEQ_ADMIN_TOKEN_FILE\): cannot read \/nonexistent\/admin-token \(ENOENT\)$/,
    ],
  ];
  for (const [name, env, message] of refused) {
    it(`refuses a token ${name}, naming the setting and never the token`, () => {
      const problems = problemsOf(env);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, message);
      assert.ok(!problems[0]!.includes(TOKEN.slice(0, 20)));
      assert.ok(!problems[0]!.includes('short-token'));
    });
  }

  it('refuses a short token in a file, naming the file setting', () => {
    const path = file('short', 'x'.repeat(31));
    const problems = problemsOf({ CHEQ_ADMIN_TOKEN_FILE: path });
    assert.deepEqual(problems, [
      `admin_token_file (CHEQ_ADMIN_TOKEN_FILE): ${path} must hold at least 32 characters`,
    ]);
  });

  it('has no command-line flag of its own (ps shows flags)', () => {
    const problems = problemsOf({}, ['--admin-token', TOKEN]);
    assert.ok(
      problems.some(p => p.includes('--admin-token')),
      problems.join('\n'),
    );
    assert.ok(!problems.join('\n').includes(TOKEN));
  });

  it('check-config shows it redacted, and exits 2 on a short one', () => {
    let out = '';
    const run = (env: Record<string, string>): number =>
      checkConfigCommand(
        ['--proxy-config', '/dev/null'],
        { ...REQUIRED, ...env },
        text => (out += text),
        text => (out += text),
      );
    assert.equal(run({ CHEQ_ADMIN_TOKEN: TOKEN }), 0);
    assert.match(out, /^ {2}admin_token +<redacted>$/m);
    assert.ok(!out.includes(TOKEN));
    out = '';
    assert.equal(run({ CHEQ_ADMIN_TOKEN: 'too-short' }), 2);
    assert.match(out, /admin_token \(CHEQ_ADMIN_TOKEN\): must be at least 32 characters/);
    assert.ok(!out.includes('too-short'));
  });
});
