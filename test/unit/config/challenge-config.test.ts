// The served challenge's settings (issue #22): secrets inline or from files and never printed,
// the block page template read at load (exit 2 naming the setting when it cannot be used), the
// strategies with challenge_action as the old name, and the no-secret fallback said by
// check-config.

import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
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
const SECRET = 'challenge-secret-0123456789abcdefXYZ';
const CAPTCHA: Readonly<Record<string, string>> = {
  CHEQ_CHALLENGE_PROVIDER: 'turnstile',
  CHEQ_CHALLENGE_SITE_KEY: 'site-key-1',
  CHEQ_CHALLENGE_PROVIDER_SECRET: 'provider-secret-value',
};
const PREVIOUS = 'previous-secret-0123456789abcdefXYZ';

function load(env: Record<string, string>): AppConfig {
  return loadConfig({ env: { ...REQUIRED, ...env }, args: [] });
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  assert.fail('expected a ConfigError');
}

function checkConfig(env: Record<string, string>): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = checkConfigCommand(
    ['--proxy-config', '/dev/null'],
    { ...REQUIRED, ...env },
    text => (out += text),
    text => (err += text),
  );
  return { code, out, err };
}

describe('challenge settings', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cheq-challenge-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  describe('strategies', () => {
    const cases: readonly [string, Record<string, string>, string, string][] = [
      ['defaults, a secret', { CHEQ_CHALLENGE_SECRET: SECRET }, 'access_denied', 'challenge'],
      ['defaults, no secret: challenge falls back to allow', {}, 'access_denied', 'allow'],
      ['redirect_url set: blocks redirect', { CHEQ_REDIRECT_URL: '/b' }, 'redirect', 'allow'],
      [
        'challenge_action deny (old name)',
        { CHEQ_CHALLENGE_ACTION: 'deny' },
        'access_denied',
        'access_denied',
      ],
      [
        'challenge_strategy wins over challenge_action',
        { CHEQ_CHALLENGE_ACTION: 'deny', CHEQ_CHALLENGE_STRATEGY: 'not_found' },
        'access_denied',
        'not_found',
      ],
      [
        'block_strategy challenge without a secret: access_denied, never an allow',
        { ...CAPTCHA, CHEQ_BLOCK_STRATEGY: 'challenge' },
        'access_denied',
        'allow',
      ],
      [
        'block_strategy challenge with a secret and a captcha provider',
        { ...CAPTCHA, CHEQ_BLOCK_STRATEGY: 'challenge', CHEQ_CHALLENGE_SECRET: SECRET },
        'challenge',
        'challenge',
      ],
    ];
    for (const [name, env, block, challenge] of cases) {
      it(name, () => {
        const { core } = load(env);
        assert.equal(core.blockStrategy, block);
        assert.equal(core.challengeStrategy, challenge);
      });
    }

    it('refuses block_strategy challenge with the browser provider, naming both settings', () => {
      // A pass lets a block served as a challenge through: a script must not earn one.
      const envs: Record<string, string>[] = [
        { CHEQ_BLOCK_STRATEGY: 'challenge', CHEQ_CHALLENGE_SECRET: SECRET },
        { CHEQ_BLOCK_STRATEGY: 'challenge' },
      ];
      for (const env of envs) {
        assert.deepEqual(problemsOf(env), [
          'block_strategy (CHEQ_BLOCK_STRATEGY) and challenge_provider (CHEQ_CHALLENGE_PROVIDER): ' +
            'is challenge with challenge_provider browser: a browser proof of work only proves ' +
            "that JavaScript ran; a block's challenge needs a captcha provider",
        ]);
      }
      const { code, err } = checkConfig({ CHEQ_BLOCK_STRATEGY: 'challenge' });
      assert.equal(code, 2);
      assert.match(err, /block_strategy .*challenge_provider .*needs a captcha provider/);
    });

    it('refuses it for a site too', () => {
      const config = file(
        'sites.yaml',
        'sites:\n  - name: shop\n    hosts: [shop.example.com]\n    tag_hash: t\n' +
          '    block_strategy: challenge\n',
      );
      const problems = problemsOf({ CHEQ_CONFIG_FILE: config });
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0] ?? '', /shop.*block_strategy.*needs a captcha provider/);
    });

    it('refuses an unknown strategy, naming the setting', () => {
      const [problem = ''] = problemsOf({ CHEQ_BLOCK_STRATEGY: 'captcha' });
      assert.match(problem, /^block_strategy \(CHEQ_BLOCK_STRATEGY\): /);
    });
  });

  describe('secrets', () => {
    it('reads the secrets inline or from files, the previous one for verifying only', () => {
      const { core } = load({
        CHEQ_CHALLENGE_SECRET_FILE: file('current', `${SECRET}\n`),
        CHEQ_CHALLENGE_PREVIOUS_SECRET: PREVIOUS,
      });
      const hmac = (key: string): Buffer => createHmac('sha256', key).update('m').digest();
      const keys = core.challenge?.keys;
      assert.deepEqual(keys?.mac('m'), hmac(SECRET), 'the file signs (trimmed)');
      assert.equal(keys?.matches('m', hmac(PREVIOUS)), true, 'the previous one verifies');
    });

    it('refuses a short secret, both forms of one, or a previous one alone, never echoing a value', () => {
      const short = 'short-secret-value';
      const problems = [
        ...problemsOf({ CHEQ_CHALLENGE_SECRET: short }),
        ...problemsOf({
          CHEQ_CHALLENGE_SECRET: SECRET,
          CHEQ_CHALLENGE_SECRET_FILE: file('both', SECRET),
        }),
        ...problemsOf({ CHEQ_CHALLENGE_PREVIOUS_SECRET: PREVIOUS }),
      ];
      assert.deepEqual(problems, [
        'challenge_secret (CHEQ_CHALLENGE_SECRET): must be at least 32 bytes long',
        'challenge_secret (CHEQ_CHALLENGE_SECRET) and challenge_secret_file (CHEQ_CHALLENGE_SECRET_FILE): set only one',
        'challenge_previous_secret (CHEQ_CHALLENGE_PREVIOUS_SECRET) and challenge_secret (CHEQ_CHALLENGE_SECRET): is set without challenge_secret',
      ]);
    });

    it('needs a site key and a provider secret for a captcha provider', () => {
      const problems = problemsOf({ CHEQ_CHALLENGE_PROVIDER: 'turnstile' });
      assert.deepEqual(problems, [
        'challenge_site_key (CHEQ_CHALLENGE_SITE_KEY): must be set when challenge_provider is turnstile',
        'challenge_provider_secret (CHEQ_CHALLENGE_PROVIDER_SECRET) or challenge_provider_secret_file (CHEQ_CHALLENGE_PROVIDER_SECRET_FILE): must be set when challenge_provider is turnstile',
      ]);
    });

    it('resolves the siteverify settings of a captcha provider; none for browser', () => {
      const config = load({
        CHEQ_CHALLENGE_SECRET: SECRET,
        CHEQ_CHALLENGE_PROVIDER: 'recaptcha-v3',
        CHEQ_CHALLENGE_SITE_KEY: ' site-key-1 ',
        CHEQ_CHALLENGE_PROVIDER_SECRET_FILE: file('provider', 'provider-secret-value\n'),
        CHEQ_CHALLENGE_VERIFY_URL: 'http://127.0.0.1:9/siteverify',
        CHEQ_CHALLENGE_MIN_SCORE: '0.7',
      });
      assert.deepEqual(config.defaultSite?.siteverify, {
        secret: 'provider-secret-value',
        siteKey: 'site-key-1',
        verifyUrl: new URL('http://127.0.0.1:9/siteverify'),
        minScore: 0.7,
        timeoutMs: 200,
      });
      assert.equal(load({ CHEQ_CHALLENGE_SECRET: SECRET }).defaultSite?.siteverify, undefined);
    });

    it('check-config redacts every secret and says the challenge is served', () => {
      const { code, out } = checkConfig({
        CHEQ_CHALLENGE_SECRET: SECRET,
        CHEQ_CHALLENGE_PREVIOUS_SECRET: PREVIOUS,
        CHEQ_CHALLENGE_PROVIDER: 'hcaptcha',
        CHEQ_CHALLENGE_SITE_KEY: 'site-key-1',
        CHEQ_CHALLENGE_PROVIDER_SECRET: 'provider-secret-value',
      });
      assert.equal(code, 0);
      for (const secret of [SECRET, PREVIOUS, 'provider-secret-value']) {
        assert.equal(out.includes(secret), false, secret);
      }
      assert.match(out, /\n {2}challenge_secret +<redacted>\n/);
      assert.match(out, /\n {2}challenge_provider_secret +<redacted>\n/);
      assert.match(out, /\nchallenge: served when a strategy asks for it\n/);
    });

    it("gives a captcha verify 200 ms by default, below the shipped proxies' 250 ms", () => {
      const { core } = load({ ...CAPTCHA, CHEQ_CHALLENGE_SECRET: SECRET });
      assert.equal(core.challenge?.verifyTimeoutMs, 200);
    });

    it('check-config warns when a captcha verify may outlast the proxy', () => {
      const warned =
        /challenge_verify_timeout_ms 250 is not below the shipped proxy recipes' authz timeout 250 ms/;
      const slow = { ...CAPTCHA, CHEQ_CHALLENGE_SECRET: SECRET };
      const at = (ms: string, env = slow): string =>
        checkConfig({ ...env, CHEQ_CHALLENGE_VERIFY_TIMEOUT_MS: ms }).out;
      assert.match(at('250'), warned);
      assert.doesNotMatch(at('249'), /is not below/);
      assert.doesNotMatch(
        at('250', { CHEQ_CHALLENGE_SECRET: SECRET }),
        /is not below/,
        'the browser provider calls no one',
      );
    });

    it('check-config says the no-secret fallback', () => {
      const { code, out } = checkConfig({});
      assert.equal(code, 0);
      assert.match(
        out,
        /\nchallenge: no challenge_secret is set, so no challenge is served \(default\)/,
      );
    });
  });

  describe('block_page_template', () => {
    it('is read at load', () => {
      const { core } = load({ CHEQ_BLOCK_PAGE_TEMPLATE: file('page.html', '<p>{{status}}</p>') });
      assert.equal(core.blockPage?.html, '<p>{{status}}</p>');
    });

    it('exits 2 naming the setting when the file is missing, not a file or over 64 KB', () => {
      const big = file('big.html', 'x'.repeat(64 * 1024 + 1));
      const cases: readonly [string, RegExp][] = [
        [join(dir, 'missing.html'), /cannot read .*missing\.html \(ENOENT\)/],
        [dir, /is not a file/],
        [big, /is larger than 65536 bytes/],
      ];
      for (const [path, message] of cases) {
        const { code, err } = checkConfig({ CHEQ_BLOCK_PAGE_TEMPLATE: path });
        assert.equal(code, 2, path);
        assert.match(err, /block_page_template \(CHEQ_BLOCK_PAGE_TEMPLATE\): /);
        assert.match(err, message);
      }
    });
  });
});
