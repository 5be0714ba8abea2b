import { strict as assert } from 'node:assert';
import type { Mode } from '../../../src/core/decision';
import {
  applyPolicy,
  type ChallengeAction,
  type PolicyConfig,
  type PolicyOutcome,
} from '../../../src/core/policy';
import type { RtiVerdict } from '../../../src/core/rti-port';

const BLOCK_CODES = [2, 3, 6, 7, 10, 11, 16, 18];
const CHALLENGE_CODES = [4, 5, 13, 14, 15, 17];

function policyConfig(overrides: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    blockRedirectCodes: new Set(BLOCK_CODES),
    challengeCodes: new Set(CHALLENGE_CODES),
    redirectUrl: undefined,
    challengeAction: 'allow',
    challengeUrl: undefined,
    ...overrides,
  };
}

function verdict(isInvalid: boolean, threatTypeCode: number): RtiVerdict {
  return { isInvalid, threatTypeCode, requestId: 'rti-1', setCookie: undefined };
}

interface Case {
  readonly name: string;
  readonly verdict: RtiVerdict;
  readonly config?: Partial<PolicyConfig>;
  readonly navigation: boolean;
  readonly expected: PolicyOutcome;
}

const ALLOW_VALID: PolicyOutcome = { action: 'allow', reason: 'valid', challenge: false };

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
    config: { challengeAction: 'allow' },
    navigation: true,
    expected: { action: 'allow', reason: 'threat_challenge', challenge: true },
  },
  {
    name: 'denies a challenged navigation (challenge_action deny)',
    verdict: verdict(true, 13),
    config: { challengeAction: 'deny', challengeUrl: '/challenge' },
    navigation: true,
    expected: { action: 'deny', reason: 'threat_challenge', challenge: false },
  },
  {
    name: 'denies a challenged non-navigation (challenge_action deny)',
    verdict: verdict(true, 14),
    config: { challengeAction: 'deny' },
    navigation: false,
    expected: { action: 'deny', reason: 'threat_challenge', challenge: false },
  },
  {
    name: 'redirects a challenged navigation to the challenge URL (challenge_action redirect)',
    verdict: verdict(true, 15),
    config: {
      challengeAction: 'redirect',
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
    config: { challengeAction: 'redirect', challengeUrl: '/challenge' },
    navigation: false,
    expected: { action: 'deny', reason: 'threat_challenge', challenge: false },
  },
  {
    name: 'denies a challenged navigation when challenge_action is redirect without a URL',
    verdict: verdict(true, 5),
    config: { challengeAction: 'redirect', challengeUrl: undefined, redirectUrl: '/blocked' },
    navigation: true,
    expected: { action: 'deny', reason: 'threat_challenge', challenge: false },
  },
  {
    name: 'allows an invalid code in neither group (threat_unlisted)',
    verdict: verdict(true, 19),
    config: { redirectUrl: '/blocked', challengeAction: 'deny' },
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
  describe('blocking mode', () => {
    for (const c of BLOCKING_CASES) {
      it(c.name, () => {
        const outcome = applyPolicy(c.verdict, 'blocking', policyConfig(c.config), c.navigation);
        assert.deepEqual(outcome, c.expected);
      });
    }

    it('acts on every code of the default block group', () => {
      for (const code of BLOCK_CODES) {
        const outcome = applyPolicy(verdict(true, code), 'blocking', policyConfig(), true);
        assert.equal(outcome.action, 'deny', `code ${code}`);
        assert.equal(outcome.reason, 'threat_block', `code ${code}`);
      }
    });

    it('challenges every code of the default challenge group', () => {
      for (const code of CHALLENGE_CODES) {
        const outcome = applyPolicy(verdict(true, code), 'blocking', policyConfig(), true);
        assert.deepEqual(
          outcome,
          { action: 'allow', reason: 'threat_challenge', challenge: true },
          `code ${code}`,
        );
      }
    });
  });

  describe('monitoring mode', () => {
    const mode: Mode = 'monitoring';

    it('keeps valid traffic as reason valid, with no would', () => {
      const outcome = applyPolicy(verdict(false, 0), mode, policyConfig(), true);
      assert.deepEqual(outcome, ALLOW_VALID);
      assert.equal('would' in outcome, false);
    });

    for (const c of BLOCKING_CASES) {
      it(`allows and reports what blocking would do, where blocking mode ${c.name}`, () => {
        const config = policyConfig(c.config);
        const blocking = applyPolicy(c.verdict, 'blocking', config, c.navigation);
        const outcome = applyPolicy(c.verdict, mode, config, c.navigation);
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
        true,
      );
      assert.deepEqual(outcome, {
        action: 'allow',
        reason: 'monitoring',
        challenge: false,
        would: { action: 'redirect', reason: 'threat_block' },
      });
    });

    const challengeActions: readonly [ChallengeAction, 'allow' | 'deny' | 'redirect'][] = [
      ['allow', 'allow'],
      ['deny', 'deny'],
      ['redirect', 'redirect'],
    ];
    for (const [challengeAction, wouldAction] of challengeActions) {
      it(`reports that blocking would ${wouldAction} a challenged navigation (challenge_action ${challengeAction})`, () => {
        const outcome = applyPolicy(
          verdict(true, 14),
          mode,
          policyConfig({ challengeAction, challengeUrl: '/challenge' }),
          true,
        );
        assert.deepEqual(outcome, {
          action: 'allow',
          reason: 'monitoring',
          challenge: false,
          would: { action: wouldAction, reason: 'threat_challenge' },
        });
      });
    }

    it('keeps an unlisted invalid code as threat_unlisted without a would', () => {
      const outcome = applyPolicy(verdict(true, 21), mode, policyConfig(), true);
      assert.deepEqual(outcome, { action: 'allow', reason: 'threat_unlisted', challenge: false });
    });
  });
});
