import { strict as assert } from 'node:assert';
import type { Mode } from '../../../src/core/decision';
import { applyPolicy, type PolicyConfig, type PolicyOutcome } from '../../../src/core/policy';
import type { RtiVerdict, Verdict } from '../../../src/core/rti-port';
import type { ChallengeStrategy } from '../../../src/core/strategy';
import { rtiVerdict, v1 } from '../../helpers/verdicts';

const BLOCK_CODES = [2, 3, 6, 7, 10, 11, 16, 18];
const CHALLENGE_CODES = [4, 5, 13, 14, 15, 17];

function policyConfig(overrides: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    apiVersion: 'v1',
    rules: [],
    blockRedirectCodes: new Set(BLOCK_CODES),
    challengeCodes: new Set(CHALLENGE_CODES),
    redirectCodes: new Set(),
    blockReasons: new Set(),
    challengeReasons: new Set(),
    redirectReasons: new Set(),
    redirectUrl: undefined,
    blockStrategy: 'redirect',
    challengeStrategy: 'allow',
    challengeUrl: undefined,
    ...overrides,
  };
}

function verdict(isInvalid: boolean, threatTypeCode: number): RtiVerdict {
  return v1(isInvalid, threatTypeCode, { requestId: 'rti-1' });
}

/** The outcome without the rule's name, which the cases below do not compare. */
function withoutRule(outcome: PolicyOutcome): Omit<PolicyOutcome, 'rule'> {
  return Object.fromEntries(Object.entries(outcome).filter(([key]) => key !== 'rule')) as Omit<
    PolicyOutcome,
    'rule'
  >;
}

interface Case {
  readonly name: string;
  readonly verdict: RtiVerdict;
  readonly config?: Partial<PolicyConfig>;
  readonly navigation: boolean;
  readonly expected: Omit<PolicyOutcome, 'rule'>;
}

const ALLOW_VALID: Omit<PolicyOutcome, 'rule'> = {
  action: 'allow',
  reason: 'valid',
  challenge: false,
};

const BLOCKING_CASES: readonly Case[] = [
  {
    name: 'allows valid traffic (isInvalid false, code 0)',
    verdict: verdict(false, 0),
    navigation: true,
    expected: ALLOW_VALID,
  },
  {
    name: 'allows when isInvalid is false even with a code of the block group',
    verdict: verdict(false, 2),
    navigation: true,
    expected: ALLOW_VALID,
  },
  {
    name: 'denies a blocked navigation when no redirect URL is configured',
    verdict: verdict(true, 2),
    navigation: true,
    expected: { action: 'deny', reason: 'threat_block', challenge: false },
  },
  {
    name: 'redirects a blocked navigation to the redirect URL',
    verdict: verdict(true, 10),
    config: { redirectUrl: 'https://shop.example.com/blocked' },
    navigation: true,
    expected: {
      action: 'redirect',
      reason: 'threat_block',
      location: 'https://shop.example.com/blocked',
      challenge: false,
    },
  },
  {
    name: 'denies a blocked non-navigation (XHR) even with a redirect URL',
    verdict: verdict(true, 3),
    config: { redirectUrl: 'https://shop.example.com/blocked' },
    navigation: false,
    expected: { action: 'deny', reason: 'threat_block', challenge: false },
  },
  {
    name: 'denies a blocked non-navigation without a redirect URL',
    verdict: verdict(true, 18),
    navigation: false,
    expected: { action: 'deny', reason: 'threat_block', challenge: false },
  },
  {
    name: 'allows a challenged request and tells the upstream (challenge_action allow)',
    verdict: verdict(true, 4),
    config: { challengeStrategy: 'allow' },
    navigation: true,
    expected: { action: 'allow', reason: 'threat_challenge', challenge: true },
  },
  {
    name: 'denies a challenged navigation (challenge_action deny)',
    verdict: verdict(true, 13),
    config: { challengeStrategy: 'access_denied', challengeUrl: '/challenge' },
    navigation: true,
    expected: { action: 'deny', reason: 'threat_challenge', challenge: false },
  },
  {
    name: 'denies a challenged non-navigation (challenge_action deny)',
    verdict: verdict(true, 14),
    config: { challengeStrategy: 'access_denied' },
    navigation: false,
    expected: { action: 'deny', reason: 'threat_challenge', challenge: false },
  },
  {
    name: 'redirects a challenged navigation to the challenge URL (challenge_action redirect)',
    verdict: verdict(true, 15),
    config: {
      challengeStrategy: 'redirect',
      challengeUrl: '/challenge',
      redirectUrl: '/blocked',
    },
    navigation: true,
    expected: {
      action: 'redirect',
      reason: 'threat_challenge',
      location: '/challenge',
      challenge: false,
    },
  },
  {
    name: 'denies a challenged non-navigation (challenge_action redirect)',
    verdict: verdict(true, 17),
    config: { challengeStrategy: 'redirect', challengeUrl: '/challenge' },
    navigation: false,
    expected: { action: 'deny', reason: 'threat_challenge', challenge: false },
  },
  {
    name: 'denies a challenged navigation when challenge_action is redirect without a URL',
    verdict: verdict(true, 5),
    config: { challengeStrategy: 'redirect', challengeUrl: undefined, redirectUrl: '/blocked' },
    navigation: true,
    expected: { action: 'deny', reason: 'threat_challenge', challenge: false },
  },
  {
    name: 'allows an invalid code in neither group (threat_unlisted)',
    verdict: verdict(true, 19),
    config: { redirectUrl: '/blocked', challengeStrategy: 'access_denied' },
    navigation: true,
    expected: { action: 'allow', reason: 'threat_unlisted', challenge: false },
  },
  {
    name: 'uses the configured groups, not the defaults',
    verdict: verdict(true, 2),
    config: { blockRedirectCodes: new Set([20]), challengeCodes: new Set([21]) },
    navigation: true,
    expected: { action: 'allow', reason: 'threat_unlisted', challenge: false },
  },
  {
    name: 'blocks a code added to the block group by configuration',
    verdict: verdict(true, 20),
    config: { blockRedirectCodes: new Set([20]), challengeCodes: new Set([21]) },
    navigation: false,
    expected: { action: 'deny', reason: 'threat_block', challenge: false },
  },
];

describe('applyPolicy', () => {
  it('asks whether the request is a navigation only when a redirect target could apply', () => {
    let asked = 0;
    const isNavigation = (): boolean => {
      asked++;
      return true;
    };
    applyPolicy(verdict(false, 0), 'blocking', policyConfig(), isNavigation);
    applyPolicy(verdict(true, 2), 'blocking', policyConfig(), isNavigation);
    assert.equal(asked, 0);
    const redirecting = policyConfig({ redirectUrl: 'https://shop.example.com/blocked' });
    const outcome = applyPolicy(verdict(true, 2), 'blocking', redirecting, isNavigation);
    assert.equal(asked, 1);
    assert.equal(outcome.action, 'redirect');
  });

  describe('blocking mode', () => {
    for (const c of BLOCKING_CASES) {
      it(c.name, () => {
        const outcome = applyPolicy(
          c.verdict,
          'blocking',
          policyConfig(c.config),
          () => c.navigation,
        );
        assert.deepEqual(withoutRule(outcome), c.expected);
      });
    }

    it('acts on every code of the default block group', () => {
      for (const code of BLOCK_CODES) {
        const outcome = applyPolicy(verdict(true, code), 'blocking', policyConfig(), () => true);
        assert.equal(outcome.action, 'deny', `code ${code}`);
        assert.equal(outcome.reason, 'threat_block', `code ${code}`);
      }
    });

    it('challenges every code of the default challenge group', () => {
      for (const code of CHALLENGE_CODES) {
        const outcome = applyPolicy(verdict(true, code), 'blocking', policyConfig(), () => true);
        assert.deepEqual(
          withoutRule(outcome),
          { action: 'allow', reason: 'threat_challenge', challenge: true },
          `code ${code}`,
        );
      }
    });
  });

  describe('monitoring mode', () => {
    const mode: Mode = 'monitoring';

    it('keeps valid traffic as reason valid, with no would', () => {
      const outcome = applyPolicy(verdict(false, 0), mode, policyConfig(), () => true);
      assert.deepEqual(withoutRule(outcome), ALLOW_VALID);
      assert.equal('would' in outcome, false);
    });

    for (const c of BLOCKING_CASES) {
      it(`allows and reports what blocking would do, where blocking mode ${c.name}`, () => {
        const config = policyConfig(c.config);
        const blocking = applyPolicy(c.verdict, 'blocking', config, () => c.navigation);
        const outcome = applyPolicy(c.verdict, mode, config, () => c.navigation);
        assert.equal(outcome.action, 'allow');
        assert.equal(outcome.location, undefined);
        assert.equal(outcome.challenge, false);
        const acts = blocking.action !== 'allow' || blocking.challenge;
        if (acts) {
          assert.equal(outcome.reason, 'monitoring');
          assert.deepEqual(outcome.would, { action: blocking.action, reason: blocking.reason });
        } else {
          assert.equal(outcome.reason, blocking.reason);
          assert.equal(outcome.would, undefined);
        }
      });
    }

    it('reports that blocking would redirect a blocked navigation', () => {
      const outcome = applyPolicy(
        verdict(true, 2),
        mode,
        policyConfig({ redirectUrl: '/blocked' }),
        () => true,
      );
      assert.deepEqual(withoutRule(outcome), {
        action: 'allow',
        reason: 'monitoring',
        challenge: false,
        would: { action: 'redirect', reason: 'threat_block' },
      });
    });

    const strategies: readonly [ChallengeStrategy, 'allow' | 'deny' | 'redirect' | 'challenge'][] =
      [
        ['allow', 'allow'],
        ['access_denied', 'deny'],
        ['not_found', 'deny'],
        ['redirect', 'redirect'],
        ['challenge', 'challenge'],
      ];
    for (const [challengeStrategy, wouldAction] of strategies) {
      it(`reports that blocking would ${wouldAction} a challenged navigation (challenge_strategy ${challengeStrategy})`, () => {
        const outcome = applyPolicy(
          verdict(true, 14),
          mode,
          policyConfig({ challengeStrategy, challengeUrl: '/challenge' }),
          () => true,
        );
        assert.deepEqual(withoutRule(outcome), {
          action: 'allow',
          reason: 'monitoring',
          challenge: false,
          would: { action: wouldAction, reason: 'threat_challenge' },
        });
      });
    }

    it('keeps an unlisted invalid code as threat_unlisted without a would', () => {
      const outcome = applyPolicy(verdict(true, 21), mode, policyConfig(), () => true);
      assert.deepEqual(withoutRule(outcome), {
        action: 'allow',
        reason: 'threat_unlisted',
        challenge: false,
      });
    });
  });

  describe('rule names (why the action was chosen)', () => {
    it('names the v1 default that acted', () => {
      const config = policyConfig();
      assert.equal(
        applyPolicy(verdict(false, 0), 'blocking', config, () => true).rule,
        'default:benign',
      );
      assert.equal(
        applyPolicy(verdict(true, 2), 'blocking', config, () => true).rule,
        'default:block_codes',
      );
      assert.equal(
        applyPolicy(verdict(true, 14), 'blocking', config, () => true).rule,
        'default:challenge_codes',
      );
      assert.equal(
        applyPolicy(verdict(true, 9), 'blocking', config, () => true).rule,
        'default:unlisted_code',
      );
    });

    it('keeps the rule in monitoring mode', () => {
      const outcome = applyPolicy(verdict(true, 2), 'monitoring', policyConfig(), () => true);
      assert.equal(outcome.rule, 'default:block_codes');
    });
  });

  describe("v4 defaults (as CHEQ's CDN workers)", () => {
    const v4 = (overrides: Partial<PolicyConfig> = {}): PolicyConfig =>
      policyConfig({ apiVersion: 'v4', challengeStrategy: 'access_denied', ...overrides });
    const cases: readonly [string, RtiVerdict, PolicyOutcome['action'], string, string][] = [
      [
        'blocks malicious whatever the code',
        rtiVerdict({ verdict: 'malicious', code: 9 }),
        'deny',
        'threat_block',
        'default:malicious',
      ],
      [
        'blocks a block-group code even when suspicious',
        rtiVerdict({ verdict: 'suspicious', code: 2 }),
        'deny',
        'threat_block',
        'default:block_codes',
      ],
      [
        'challenges suspicious',
        rtiVerdict({ verdict: 'suspicious', code: 21 }),
        'deny',
        'threat_challenge',
        'default:suspicious',
      ],
      [
        'challenges a challenge-group code even when benign',
        rtiVerdict({ verdict: 'benign', code: 14 }),
        'deny',
        'threat_challenge',
        'default:challenge_codes',
      ],
      [
        'blocks a block-group code even when benign',
        rtiVerdict({ verdict: 'benign', code: 3 }),
        'deny',
        'threat_block',
        'default:block_codes',
      ],
      [
        'allows benign',
        rtiVerdict({ verdict: 'benign', code: 0 }),
        'allow',
        'valid',
        'default:benign',
      ],
      [
        'allows a benign good bot',
        rtiVerdict({ verdict: 'benign', code: 19 }),
        'allow',
        'valid',
        'default:benign',
      ],
    ];
    for (const [name, v, action, reason, rule] of cases) {
      it(name, () => {
        const outcome = applyPolicy(v, 'blocking', v4(), () => false);
        assert.deepEqual([outcome.action, outcome.reason, outcome.rule], [action, reason, rule]);
      });
    }

    it('redirects a malicious navigation to redirect_url', () => {
      const outcome = applyPolicy(
        rtiVerdict({ verdict: 'malicious', code: 8 }),
        'blocking',
        v4({ redirectUrl: '/blocked' }),
        () => true,
      );
      assert.deepEqual([outcome.action, outcome.location], ['redirect', '/blocked']);
    });

    it('v1 defaults do not act on a verdict alone: malicious code 9 is unlisted', () => {
      const outcome = applyPolicy(
        rtiVerdict({ verdict: 'malicious', code: 9 }),
        'blocking',
        policyConfig(),
        () => true,
      );
      assert.deepEqual([outcome.action, outcome.reason], ['allow', 'threat_unlisted']);
    });
  });

  describe('configured rules', () => {
    const rules: PolicyConfig['rules'] = [
      { name: 'trusted partner', when: { reasons: new Set([501]) }, action: 'allow' },
      {
        name: 'risky',
        when: { verdicts: new Set(['suspicious']), minRiskScore: 80 },
        action: 'block',
      },
      {
        name: 'vpn shoppers',
        when: { codes: new Set([14]), verdicts: new Set(['suspicious']) },
        action: 'allow',
      },
    ];
    const config = policyConfig({ apiVersion: 'v4', rules, challengeStrategy: 'access_denied' });

    it('the first matching rule acts, before the defaults', () => {
      const v = rtiVerdict({ verdict: 'malicious', code: 2, reasons: [12, 501] });
      const outcome = applyPolicy(v, 'blocking', config, () => true);
      assert.deepEqual(
        [outcome.action, outcome.reason, outcome.rule],
        ['allow', 'threat_unlisted', 'trusted partner'],
      );
    });

    it('every condition of a rule must hold (verdict and min_risk_score)', () => {
      const high = rtiVerdict({ verdict: 'suspicious', code: 14, riskScore: 85 });
      const low = rtiVerdict({ verdict: 'suspicious', code: 14, riskScore: 40 });
      const none = rtiVerdict({ verdict: 'suspicious', code: 14 });
      assert.equal(applyPolicy(high, 'blocking', config, () => false).rule, 'risky');
      assert.equal(applyPolicy(high, 'blocking', config, () => false).action, 'deny');
      // Below the score, the next rule matches: VPN shoppers are let through.
      assert.deepEqual(
        [
          applyPolicy(low, 'blocking', config, () => false).rule,
          applyPolicy(low, 'blocking', config, () => false).action,
        ],
        ['vpn shoppers', 'allow'],
      );
      // No score at all never meets a minimum.
      assert.equal(applyPolicy(none, 'blocking', config, () => false).rule, 'vpn shoppers');
    });

    it('falls back to the defaults when no rule matches', () => {
      const outcome = applyPolicy(
        rtiVerdict({ verdict: 'suspicious', code: 21 }),
        'blocking',
        config,
        () => false,
      );
      assert.deepEqual(
        [outcome.action, outcome.reason, outcome.rule],
        ['deny', 'threat_challenge', 'default:suspicious'],
      );
    });

    it('a rule with no conditions matches everything (a catch-all)', () => {
      const catchAll = policyConfig({
        rules: [{ name: 'observe only', when: {}, action: 'allow' }],
      });
      const outcome = applyPolicy(verdict(true, 2), 'blocking', catchAll, () => true);
      assert.deepEqual([outcome.action, outcome.rule], ['allow', 'observe only']);
    });

    it('a block rule can act on a benign verdict with a high risk score', () => {
      const strict = policyConfig({
        rules: [{ name: 'score', when: { minRiskScore: 90 }, action: 'block' }],
      });
      const outcome = applyPolicy(
        rtiVerdict({ code: 0, riskScore: 95 }),
        'blocking',
        strict,
        () => false,
      );
      assert.deepEqual([outcome.action, outcome.reason], ['deny', 'threat_block']);
    });

    it('challenge rules follow challenge_action', () => {
      const challengeAll = policyConfig({
        rules: [{ name: 'c', when: { verdicts: new Set(['malicious']) }, action: 'challenge' }],
        challengeStrategy: 'redirect',
        challengeUrl: '/verify',
      });
      const outcome = applyPolicy(
        rtiVerdict({ verdict: 'malicious', code: 2 }),
        'blocking',
        challengeAll,
        () => true,
      );
      assert.deepEqual(
        [outcome.action, outcome.location, outcome.reason],
        ['redirect', '/verify', 'threat_challenge'],
      );
    });

    it('monitoring mode reports what the rule would do', () => {
      const v = rtiVerdict({ verdict: 'suspicious', code: 14, riskScore: 99 });
      const outcome = applyPolicy(v, 'monitoring', config, () => false);
      assert.deepEqual(withoutRule(outcome), {
        action: 'allow',
        reason: 'monitoring',
        challenge: false,
        would: { action: 'deny', reason: 'threat_block' },
      });
      assert.equal(outcome.rule, 'risky');
    });
  });
  describe("CHEQ's action model: block > challenge > redirect > allow", () => {
    const groups: Partial<PolicyConfig> = {
      blockRedirectCodes: new Set([2]),
      challengeCodes: new Set([14]),
      redirectCodes: new Set([21]),
      blockReasons: new Set([101]),
      challengeReasons: new Set([102]),
      redirectReasons: new Set([103]),
      redirectUrl: '/sorry',
      challengeStrategy: 'access_denied',
    };
    const chosen = (v: RtiVerdict, config: PolicyConfig): [string, string, string] => {
      const outcome = applyPolicy(v, 'blocking', config, () => true);
      return [outcome.action, outcome.reason, outcome.rule];
    };
    // [name, verdict, code, reasons, v4 outcome, v1 outcome]
    const cases: readonly [string, Verdict, number, number[], string[], string[]][] = [
      [
        'blocks malicious (v4); v1 acts on codes only',
        'malicious',
        0,
        [],
        ['redirect', 'threat_block', 'default:malicious'],
        ['allow', 'threat_unlisted', 'default:unlisted_code'],
      ],
      [
        'malicious always blocks (v4), even with a redirect code and reason',
        'malicious',
        21,
        [103],
        ['redirect', 'threat_block', 'default:malicious'],
        ['redirect', 'threat_redirect', 'default:redirect_codes'],
      ],
      [
        'a block code wins over a challenge reason',
        'suspicious',
        2,
        [102],
        ['redirect', 'threat_block', 'default:block_codes'],
        ['redirect', 'threat_block', 'default:block_codes'],
      ],
      [
        'a block reason wins over a suspicious verdict and a challenge code',
        'suspicious',
        14,
        [102, 101],
        ['redirect', 'threat_block', 'default:block_reasons'],
        ['redirect', 'threat_block', 'default:block_reasons'],
      ],
      [
        'a suspicious verdict wins over a redirect code (v4)',
        'suspicious',
        21,
        [],
        ['deny', 'threat_challenge', 'default:suspicious'],
        ['redirect', 'threat_redirect', 'default:redirect_codes'],
      ],
      [
        'a challenge code wins over a redirect reason (v1; v4 blocks malicious first)',
        'malicious',
        14,
        [103],
        ['redirect', 'threat_block', 'default:malicious'],
        ['deny', 'threat_challenge', 'default:challenge_codes'],
      ],
      [
        'a challenge reason wins over a redirect code',
        'suspicious',
        21,
        [102],
        ['deny', 'threat_challenge', 'default:suspicious'],
        ['deny', 'threat_challenge', 'default:challenge_reasons'],
      ],
      [
        'a redirect reason acts when nothing else does (v1; v4 blocks malicious first)',
        'malicious',
        9,
        [7, 103],
        ['redirect', 'threat_block', 'default:malicious'],
        ['redirect', 'threat_redirect', 'default:redirect_reasons'],
      ],
      [
        'a benign verdict with a redirect code is redirected (v4) and allowed (v1)',
        'benign',
        21,
        [],
        ['redirect', 'threat_redirect', 'default:redirect_codes'],
        ['allow', 'valid', 'default:benign'],
      ],
      [
        'a benign verdict with a challenge reason is challenged (v4)',
        'benign',
        0,
        [102],
        ['deny', 'threat_challenge', 'default:challenge_reasons'],
        ['allow', 'valid', 'default:benign'],
      ],
      [
        'reasons in no list change nothing',
        'benign',
        0,
        [1, 2, 3],
        ['allow', 'valid', 'default:benign'],
        ['allow', 'valid', 'default:benign'],
      ],
    ];
    for (const [name, verdictName, code, reasons, v4Outcome, v1Outcome] of cases) {
      it(name, () => {
        const v = rtiVerdict({ verdict: verdictName, code, reasons });
        assert.deepEqual(chosen(v, policyConfig({ ...groups, apiVersion: 'v4' })), v4Outcome);
        assert.deepEqual(chosen(v, policyConfig({ ...groups, apiVersion: 'v1' })), v1Outcome);
      });
    }

    it('names every default rule of each generation', () => {
      const config = (apiVersion: PolicyConfig['apiVersion']): PolicyConfig =>
        policyConfig({ ...groups, apiVersion });
      const rule = (apiVersion: PolicyConfig['apiVersion'], fields: Partial<RtiVerdict>) =>
        applyPolicy(rtiVerdict(fields), 'blocking', config(apiVersion), () => false).rule;
      const seen = {
        v4: [
          rule('v4', { verdict: 'malicious' }),
          rule('v4', { code: 2 }),
          rule('v4', { reasons: [101] }),
          rule('v4', { verdict: 'suspicious' }),
          rule('v4', { code: 14 }),
          rule('v4', { reasons: [102] }),
          rule('v4', { code: 21 }),
          rule('v4', { reasons: [103] }),
          rule('v4', {}),
        ],
        v1: [
          rule('v1', {}),
          rule('v1', { verdict: 'malicious', code: 2 }),
          rule('v1', { verdict: 'malicious', reasons: [101] }),
          rule('v1', { verdict: 'suspicious', code: 14 }),
          rule('v1', { verdict: 'suspicious', reasons: [102] }),
          rule('v1', { verdict: 'suspicious', code: 21 }),
          rule('v1', { verdict: 'malicious', reasons: [103] }),
          rule('v1', { verdict: 'malicious', code: 9 }),
        ],
      };
      assert.deepEqual(seen, {
        v4: [
          'default:malicious',
          'default:block_codes',
          'default:block_reasons',
          'default:suspicious',
          'default:challenge_codes',
          'default:challenge_reasons',
          'default:redirect_codes',
          'default:redirect_reasons',
          'default:benign',
        ],
        v1: [
          'default:benign',
          'default:block_codes',
          'default:block_reasons',
          'default:challenge_codes',
          'default:challenge_reasons',
          'default:redirect_codes',
          'default:redirect_reasons',
          'default:unlisted_code',
        ],
      });
    });

    it('redirects a navigation to redirect_url (threat_redirect)', () => {
      const outcome = applyPolicy(
        rtiVerdict({ code: 21 }),
        'blocking',
        policyConfig({ ...groups, apiVersion: 'v4' }),
        () => true,
      );
      assert.deepEqual(withoutRule(outcome), {
        action: 'redirect',
        reason: 'threat_redirect',
        location: '/sorry',
        challenge: false,
      });
    });

    it('denies a redirected non-navigation (an XHR cannot follow it to a page)', () => {
      const outcome = applyPolicy(
        rtiVerdict({ code: 21 }),
        'blocking',
        policyConfig({ ...groups, apiVersion: 'v4' }),
        () => false,
      );
      assert.deepEqual(withoutRule(outcome), {
        action: 'deny',
        reason: 'threat_redirect',
        challenge: false,
      });
    });

    it('denies a redirect action with 403 when no redirect_url is set', () => {
      let asked = 0;
      const outcome = applyPolicy(
        rtiVerdict({ code: 21 }),
        'blocking',
        policyConfig({ ...groups, apiVersion: 'v4', redirectUrl: undefined }),
        () => ++asked > 0,
      );
      assert.deepEqual(withoutRule(outcome), {
        action: 'deny',
        reason: 'threat_redirect',
        challenge: false,
      });
      assert.equal(asked, 0, 'with nowhere to redirect to, the headers are not read');
    });

    it('monitoring mode allows and reports the redirect it would have made', () => {
      const outcome = applyPolicy(
        rtiVerdict({ reasons: [103] }),
        'monitoring',
        policyConfig({ ...groups, apiVersion: 'v4' }),
        () => true,
      );
      assert.deepEqual(outcome, {
        action: 'allow',
        reason: 'monitoring',
        rule: 'default:redirect_reasons',
        challenge: false,
        would: { action: 'redirect', reason: 'threat_redirect' },
      });
    });

    it('a configured rule can redirect, before the defaults', () => {
      const config = policyConfig({
        ...groups,
        apiVersion: 'v4',
        rules: [{ name: 'to the sorry page', when: { codes: new Set([2]) }, action: 'redirect' }],
      });
      assert.deepEqual(chosen(rtiVerdict({ verdict: 'malicious', code: 2 }), config), [
        'redirect',
        'threat_redirect',
        'to the sorry page',
      ]);
    });

    it('empty lists (the defaults) act on no code or reason', () => {
      const config = policyConfig({ apiVersion: 'v4' });
      assert.deepEqual(chosen(rtiVerdict({ code: 21, reasons: [101, 102, 103] }), config), [
        'allow',
        'valid',
        'default:benign',
      ]);
    });
  });
});
