import { strict as assert } from 'node:assert';
import { buildRtiInput, type RtiInputConfig } from '../../../src/core/build-rti-input';
import {
  enforceGradually,
  isEnforced,
  resolveEnforcePercent,
  type Visitor,
} from '../../../src/core/enforcement';
import type { HeaderEntry } from '../../../src/core/header-list';
import { PathMap } from '../../../src/core/path-pattern';
import type { PolicyOutcome } from '../../../src/core/policy';
import { makeAttributes, type AttributesOverrides } from './make-attributes';

const INPUT_CONFIG: RtiInputConfig = {
  routeToEventType: new PathMap([]),
  trustedIpHeader: 'x-real-client-ip',
  ja3Header: undefined,
  ja4Header: undefined,
  channelParam: undefined,
  ignoredHeaderNames: [],
};

const UA = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36';

/** A visitor as the core sees one: RTI's input for a request, its client IP resolved. */
function visitor(overrides: AttributesOverrides = {}): Visitor {
  return buildRtiInput(makeAttributes(overrides), 'page_load', INPUT_CONFIG);
}

function withCookie(cookie: string, extra: AttributesOverrides = {}): Visitor {
  return visitor({
    headers: [
      ['user-agent', UA],
      ['cookie', cookie],
    ],
    ...extra,
  });
}

/** The `n`th of many visitors without cookies: one IP each, the same browser. */
function byAddress(n: number): Visitor {
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  return visitor({ headers: [['user-agent', UA]], peerAddress: ip });
}

/** Visitors told apart by cookie only, named as a tag would number them. */
function byCookie(n: number): Visitor {
  return withCookie(`_cq_duid=${n.toString(16)}.${1_700_000_000 + n}`);
}

function share(visitors: readonly Visitor[], percent: number): number {
  return (100 * visitors.filter(v => isEnforced(v, percent)).length) / visitors.length;
}

const PERCENTS = [1, 10, 25, 50, 90];

describe('gradual enforcement', () => {
  describe('which visitors are acted on', () => {
    const cookieVisitors = Array.from({ length: 10_000 }, (_, n) => byCookie(n));
    const addressVisitors = Array.from({ length: 10_000 }, (_, n) => byAddress(n));

    for (const percent of PERCENTS) {
      it(`acts on ${percent} % (± 2) of 10,000 visitors told apart by cookie`, () => {
        const actual = share(cookieVisitors, percent);
        assert.ok(Math.abs(actual - percent) <= 2, `${actual} % acted on`);
      });

      it(`acts on ${percent} % (± 2) of 10,000 visitors told apart by IP`, () => {
        const actual = share(addressVisitors, percent);
        assert.ok(Math.abs(actual - percent) <= 2, `${actual} % acted on`);
      });
    }

    it('spreads cookies that differ only in their last characters (± 5 of 30 % of 1,000)', () => {
      const numbered = Array.from({ length: 1000 }, (_, n) => withCookie(`_cheq_rti=visitor-${n}`));
      const actual = share(numbered, 30);
      assert.ok(Math.abs(actual - 30) <= 5, `${actual} % acted on`);
    });

    it('acts on nobody at 0 and on everybody at 100', () => {
      for (const visitors of [cookieVisitors, addressVisitors]) {
        assert.equal(share(visitors, 0), 0);
        assert.equal(share(visitors, 100), 100);
      }
    });

    it('only adds visitors as the percent rises', () => {
      for (const v of [...cookieVisitors.slice(0, 1000), ...addressVisitors.slice(0, 1000)]) {
        const from = Array.from({ length: 101 }, (_, p) => p).find(p => isEnforced(v, p));
        assert.ok(from !== undefined);
        for (let p = from; p <= 100; p++) assert.ok(isEnforced(v, p), `dropped at ${p} %`);
      }
    });
  });

  describe('stability', () => {
    it('gives a visitor the same answer on every page and every call', () => {
      const pages: AttributesOverrides[] = [
        { path: '/' },
        { path: '/checkout', query: 'step=2' },
        { path: '/api/cart', method: 'POST', requestId: 'req-2' },
      ];
      for (let n = 0; n < 200; n++) {
        const cookie = `_cheq_rti=rti-${n}`;
        for (const percent of [10, 50, 90]) {
          const first = isEnforced(withCookie(cookie), percent);
          const firstByIp = isEnforced(byAddress(n), percent);
          for (const page of pages) {
            for (let call = 0; call < 5; call++) {
              assert.equal(isEnforced(withCookie(cookie, page), percent), first);
              assert.equal(isEnforced(byAddress(n), percent), firstByIp);
            }
          }
        }
      }
    });

    it('knows a visitor by cookie whatever their IP and User-Agent', () => {
      for (let n = 0; n < 200; n++) {
        const cookie = `_cq_duid=duid-${n}`;
        const home = withCookie(cookie, { peerAddress: '198.51.100.1' });
        const elsewhere = visitor({
          headers: [
            ['user-agent', `other-agent/${n}`],
            ['cookie', cookie],
          ],
          peerAddress: `203.0.113.${n}`,
        });
        for (const percent of [10, 50, 90]) {
          assert.equal(isEnforced(elsewhere, percent), isEnforced(home, percent));
        }
      }
    });

    it('prefers the _cq_duid cookie over _cheq_rti', () => {
      for (let n = 0; n < 200; n++) {
        const duidOnly = withCookie(`_cq_duid=duid-${n}`);
        const both = withCookie(`_cheq_rti=rti-${n}; _cq_duid=duid-${n}`);
        for (const percent of [10, 50, 90]) {
          assert.equal(isEnforced(both, percent), isEnforced(duidOnly, percent));
        }
      }
    });

    it('tells visitors apart by cookie even behind one IP and User-Agent', () => {
      const behindOneNat = Array.from({ length: 2000 }, (_, n) => withCookie(`_cheq_rti=r${n}`));
      const actual = share(behindOneNat, 50);
      assert.ok(Math.abs(actual - 50) <= 5, `${actual} % acted on`);
    });

    it('knows a visitor without cookies by the client IP RTI is told, then the User-Agent', () => {
      const headers: HeaderEntry[] = [
        ['user-agent', UA],
        ['x-real-client-ip', '198.51.100.23'],
      ];
      const viaPeers = Array.from({ length: 200 }, (_, n) =>
        visitor({ headers, peerAddress: `10.0.0.${n}` }),
      );
      const otherAgents = Array.from({ length: 2000 }, (_, n) =>
        visitor({ headers: [['user-agent', `bot/${n}`]], peerAddress: '198.51.100.23' }),
      );
      const first = viaPeers[0];
      assert.ok(first);
      for (const v of viaPeers) assert.equal(isEnforced(v, 50), isEnforced(first, 50));
      const actual = share(otherAgents, 50);
      assert.ok(Math.abs(actual - 50) <= 5, `${actual} % acted on`);
    });
  });

  describe('resolveEnforcePercent', () => {
    const cases: readonly (readonly [string | undefined, number])[] = [
      [undefined, 40],
      ['0', 0],
      ['25', 25],
      ['100', 100],
      ['007', 7],
      ['101', 40],
      ['-1', 40],
      ['25.5', 40],
      [' 25', 40],
      ['1e2', 40],
      ['', 40],
      ['half', 40],
    ];
    for (const [route, expected] of cases) {
      it(`takes ${expected} for route value ${JSON.stringify(route)} (configured 40)`, () => {
        assert.equal(resolveEnforcePercent(route, 40), expected);
      });
    }
  });

  describe('enforceGradually', () => {
    const deny: PolicyOutcome = {
      action: 'deny',
      reason: 'threat_block',
      rule: 'default:block_codes',
      challenge: false,
    };
    const redirect: PolicyOutcome = {
      action: 'redirect',
      reason: 'threat_challenge',
      rule: 'default:challenge_codes',
      location: '/challenge',
      challenge: false,
    };
    const challenge: PolicyOutcome = {
      action: 'allow',
      reason: 'threat_challenge',
      rule: 'default:challenge_codes',
      challenge: true,
    };
    const v = byCookie(1);

    for (const outcome of [deny, redirect, challenge]) {
      it(`allows a visitor outside the share instead of ${outcome.action} (${outcome.reason})`, () => {
        assert.deepEqual(enforceGradually(outcome, 0, v), {
          action: 'allow',
          reason: 'not_enforced',
          rule: outcome.rule,
          challenge: false,
          would: { action: outcome.action, reason: outcome.reason },
        });
      });

      it(`keeps ${outcome.action} (${outcome.reason}) for a visitor inside the share`, () => {
        assert.equal(enforceGradually(outcome, 100, v), outcome);
      });
    }

    it('leaves outcomes that do not act on the visitor as they are', () => {
      const valid: PolicyOutcome = {
        action: 'allow',
        reason: 'valid',
        rule: 'default:benign',
        challenge: false,
      };
      const unlisted: PolicyOutcome = { ...valid, reason: 'threat_unlisted' };
      for (const outcome of [valid, unlisted]) {
        assert.equal(enforceGradually(outcome, 0, v), outcome);
      }
    });
  });
});
