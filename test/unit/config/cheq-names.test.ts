// CHEQ's standard setting names (rti-api.md §5.1: CHEQ_THREAT_CODES_BLOCK, CHEQ_REASONS_CAPTCHA,
// CHEQ_BLOCKING_STRATEGY...) are read as our settings without a warning, so a configuration
// written for CHEQ's own integrations carries over; our name wins when both are set, with a
// warning; a bad value names the variable the operator set.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderConfigReference } from '../../../src/config/config-reference';
import { ConfigError, loadConfig, type AppConfig } from '../../../src/config/load-config';
import { parsePolicyRules } from '../../../src/config/policy-rules';
import { schema, type SettingName, type SettingSpec } from '../../../src/config/schema';

const REQUIRED: Readonly<Record<string, string>> = {
  CHEQ_API_KEY: 'key-1',
  CHEQ_TAG_HASH: 'tag-1',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

const ALIASED = (Object.entries(schema) as [SettingName, SettingSpec][]).filter(
  ([, spec]) => spec.cheqAlias !== undefined,
);

function load(env: Record<string, string>, args: string[] = []): AppConfig {
  return loadConfig({ env: { ...REQUIRED, ...env }, args });
}

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    load(env);
  } catch (err: unknown) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe("loadConfig: CHEQ's standard setting names", () => {
  it('has exactly the names of rti-api.md §5.1 that are not ours already', () => {
    assert.deepEqual(Object.fromEntries(ALIASED.map(([key, spec]) => [spec.cheqAlias?.env, key])), {
      CHEQ_BLOCKING_STRATEGY: 'block_strategy',
      CHEQ_THREAT_CODES_BLOCK: 'block_redirect_codes',
      CHEQ_THREAT_CODES_CAPTCHA: 'challenge_codes',
      CHEQ_THREAT_CODES_REDIRECT: 'redirect_codes',
      CHEQ_REASONS_BLOCK: 'block_reasons',
      CHEQ_REASONS_CAPTCHA: 'challenge_reasons',
      CHEQ_REASONS_REDIRECT: 'redirect_reasons',
    });
    // CHEQ_MODE and CHEQ_REDIRECT_URL are our own names.
    assert.equal(schema.mode.env, 'CHEQ_MODE');
    assert.equal(schema.redirect_url.env, 'CHEQ_REDIRECT_URL');
  });

  describe('each code and reason list', () => {
    for (const [key, spec] of ALIASED.filter(([, s]) => s.format === 'code-list')) {
      it(`reads ${spec.cheqAlias?.env} as ${key}, without a warning`, () => {
        // Codes in no default group, so no overlap is refused.
        const config = load({ [spec.cheqAlias?.env ?? '']: '9, 20' });
        assert.deepEqual((config.defaultSite?.effective[key] as unknown[]).map(Number), [9, 20]);
        assert.deepEqual(config.warnings, []);
      });
    }
  });

  it('acts on the lists read from CHEQ names (the core gets them)', () => {
    const config = load({
      CHEQ_THREAT_CODES_BLOCK: '20',
      CHEQ_THREAT_CODES_CAPTCHA: '21',
      CHEQ_THREAT_CODES_REDIRECT: '22',
      CHEQ_REASONS_BLOCK: '101',
      CHEQ_REASONS_CAPTCHA: '102,103',
      CHEQ_REASONS_REDIRECT: '104',
    });
    const { core } = config;
    assert.deepEqual(
      [
        core.blockRedirectCodes,
        core.challengeCodes,
        core.redirectCodes,
        core.blockReasons,
        core.challengeReasons,
        core.redirectReasons,
      ].map(set => [...set]),
      [[20], [21], [22], [101], [102, 103], [104]],
    );
  });

  describe('CHEQ_BLOCKING_STRATEGY', () => {
    const values: readonly [string, string][] = [
      ['ACCESS_DENIED', 'access_denied'],
      ['NOT_FOUND', 'not_found'],
      ['REDIRECT', 'redirect'],
      ['CAPTCHA', 'challenge'],
      ['captcha', 'challenge'],
      [' captcha', 'challenge'],
      ['NOT_FOUND\t', 'not_found'],
      ['Not_Found', 'not_found'],
      ['access_denied', 'access_denied'],
      ['challenge', 'challenge'],
    ];
    // A block's challenge needs a captcha provider (a pass lets it through).
    const captcha = {
      CHEQ_CHALLENGE_PROVIDER: 'turnstile',
      CHEQ_CHALLENGE_SITE_KEY: 'site-key-1',
      CHEQ_CHALLENGE_PROVIDER_SECRET: 'provider-secret-1',
    };
    for (const [cheqValue, ours] of values) {
      it(`reads ${cheqValue} as block_strategy ${ours}`, () => {
        const config = load({ ...captcha, CHEQ_BLOCKING_STRATEGY: cheqValue });
        assert.equal(config.defaultSite?.effective['block_strategy'], ours);
        assert.deepEqual(config.warnings, []);
      });
    }

    it('refuses CAPTCHA with the browser provider, naming the variable that was set', () => {
      assert.deepEqual(problemsOf({ CHEQ_BLOCKING_STRATEGY: 'CAPTCHA' }), [
        "block_strategy (CHEQ_BLOCKING_STRATEGY, CHEQ's name for CHEQ_BLOCK_STRATEGY) and " +
          'challenge_provider (CHEQ_CHALLENGE_PROVIDER): is challenge with challenge_provider ' +
          'browser: a browser proof of work only proves that JavaScript ran; ' +
          "a block's challenge needs a captcha provider",
      ]);
    });

    it('refuses another value, naming the variable that was set', () => {
      assert.deepEqual(problemsOf({ CHEQ_BLOCKING_STRATEGY: 'BLOCK' }), [
        "block_strategy (CHEQ_BLOCKING_STRATEGY, CHEQ's name for CHEQ_BLOCK_STRATEGY): must be " +
          'one of the possible values: ["","access_denied","not_found","redirect","challenge"]: ' +
          'value was "BLOCK"',
      ]);
    });

    it('does not take CHEQ spellings under our own name', () => {
      assert.match(
        problemsOf({ CHEQ_BLOCK_STRATEGY: 'CAPTCHA' })[0] ?? '',
        /^block_strategy \(CHEQ_BLOCK_STRATEGY\): must be one of/,
      );
    });
  });

  describe('when both names are set', () => {
    it('uses ours, with one warning line', () => {
      const config = load({ CHEQ_THREAT_CODES_BLOCK: '20', CHEQ_BLOCK_REDIRECT_CODES: '21' });
      assert.deepEqual(config.core.blockRedirectCodes, new Set([21]));
      assert.deepEqual(config.warnings, [
        'CHEQ_THREAT_CODES_BLOCK and CHEQ_BLOCK_REDIRECT_CODES are both set: ' +
          "CHEQ_BLOCK_REDIRECT_CODES is used; CHEQ_THREAT_CODES_BLOCK is CHEQ's name for it, remove one",
      ]);
    });

    it('never judges the value that is not used', () => {
      const config = load({ CHEQ_BLOCKING_STRATEGY: 'BLOCK', CHEQ_BLOCK_STRATEGY: 'not_found' });
      assert.equal(config.defaultSite?.effective['block_strategy'], 'not_found');
      assert.equal(config.warnings.length, 1);
    });
  });

  it('a flag wins over a CHEQ name, whose bad value is then not a problem', () => {
    const config = load({ CHEQ_THREAT_CODES_REDIRECT: 'many' }, ['--redirect-codes', '20']);
    assert.deepEqual(config.core.redirectCodes, new Set([20]));
  });

  it('a CHEQ name wins over the config file, as every variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cheq-names-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, 'redirect_codes: [20]\nblock_reasons: [101]\n');
      const config = load({ CHEQ_CONFIG_FILE: file, CHEQ_THREAT_CODES_REDIRECT: '21' });
      assert.deepEqual(config.core.redirectCodes, new Set([21]));
      assert.deepEqual(config.core.blockReasons, new Set([101]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('bad values name the variable the operator set', () => {
    it('a code list that is not one', () => {
      assert.deepEqual(problemsOf({ CHEQ_REASONS_CAPTCHA: '12,x' }), [
        "challenge_reasons (CHEQ_REASONS_CAPTCHA, CHEQ's name for CHEQ_CHALLENGE_REASONS): " +
          'must be a comma list of non-negative integers; "x" is not: value was ["12","x"]',
      ]);
    });

    it("a code in a CHEQ name's group and one of ours", () => {
      assert.deepEqual(problemsOf({ CHEQ_THREAT_CODES_BLOCK: '2,14' }), [
        "block_redirect_codes (CHEQ_THREAT_CODES_BLOCK, CHEQ's name for CHEQ_BLOCK_REDIRECT_CODES) " +
          'and challenge_codes (CHEQ_CHALLENGE_CODES): code 14 is in both groups',
      ]);
    });

    it('a code in two groups both set by CHEQ names', () => {
      assert.deepEqual(
        problemsOf({ CHEQ_THREAT_CODES_CAPTCHA: '20', CHEQ_THREAT_CODES_REDIRECT: '20,21' }),
        [
          "challenge_codes (CHEQ_THREAT_CODES_CAPTCHA, CHEQ's name for CHEQ_CHALLENGE_CODES) and " +
            "redirect_codes (CHEQ_THREAT_CODES_REDIRECT, CHEQ's name for CHEQ_REDIRECT_CODES): " +
            'code 20 is in both groups',
        ],
      );
    });
  });

  it('suggests the CHEQ name for a misspelt one', () => {
    assert.deepEqual(problemsOf({ CHEQ_THREAT_CODE_BLOCK: '2' }), [
      'CHEQ_THREAT_CODE_BLOCK: not a setting (did you mean CHEQ_THREAT_CODES_BLOCK?)',
    ]);
  });

  it('shows each CHEQ name in the configuration reference', () => {
    const reference = renderConfigReference();
    for (const [key, spec] of ALIASED) {
      assert.ok(
        reference.includes(
          `| \`${key}\` | \`${spec.env}\` (CHEQ's name \`${spec.cheqAlias?.env}\`) |`,
        ),
        key,
      );
    }
  });
});

describe('loadConfig: code groups', () => {
  it('refuses a code in redirect_codes and block_redirect_codes', () => {
    assert.deepEqual(problemsOf({ CHEQ_REDIRECT_CODES: '2,20' }), [
      'block_redirect_codes (CHEQ_BLOCK_REDIRECT_CODES) and redirect_codes (CHEQ_REDIRECT_CODES): ' +
        'code 2 is in both groups',
    ]);
  });

  it('refuses codes shared by any two groups, naming each pair once', () => {
    assert.deepEqual(problemsOf({ CHEQ_REDIRECT_CODES: '14,2', CHEQ_CHALLENGE_CODES: '2,14' }), [
      'block_redirect_codes (CHEQ_BLOCK_REDIRECT_CODES) and challenge_codes (CHEQ_CHALLENGE_CODES): code 2 is in both groups',
      'block_redirect_codes (CHEQ_BLOCK_REDIRECT_CODES) and redirect_codes (CHEQ_REDIRECT_CODES): code 2 is in both groups',
      'challenge_codes (CHEQ_CHALLENGE_CODES) and redirect_codes (CHEQ_REDIRECT_CODES): code 2, 14 is in both groups',
    ]);
  });

  it('accepts a reason in several lists: the priority decides (block > challenge > redirect)', () => {
    const config = load({
      CHEQ_BLOCK_REASONS: '7',
      CHEQ_CHALLENGE_REASONS: '7',
      CHEQ_REDIRECT_REASONS: '7',
    });
    assert.deepEqual(config.core.blockReasons, new Set([7]));
    assert.deepEqual(config.core.redirectReasons, new Set([7]));
  });

  it('refuses an overlap in a site, naming the site', () => {
    const sites = JSON.stringify([{ name: 'shop', hosts: ['shop.example'], redirect_codes: [3] }]);
    assert.deepEqual(problemsOf({ CHEQ_SITES: sites }), [
      'sites[1] shop: block_redirect_codes and redirect_codes: code 3 is in both groups',
    ]);
  });
});

describe('policy_rules: action redirect', () => {
  it('accepts redirect as a rule action', () => {
    const [rule] = parsePolicyRules('[{"name":"r","when":{"codes":[21]},"action":"redirect"}]');
    assert.equal(rule?.action, 'redirect');
  });

  it('still refuses an unknown action, listing redirect among the known ones', () => {
    assert.throws(
      () => parsePolicyRules([{ action: 'captcha' }]),
      /^Error: rule 1: action must be one of allow, block, challenge, redirect$/,
    );
  });
});
