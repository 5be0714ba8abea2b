import { strict as assert } from 'node:assert';
import { buildRtiInput, type RtiInputConfig } from '../../../src/core/build-rti-input';
import {
  BucketKey,
  bucketSubject,
  enforceGradually,
  isEnforced,
  resolveEnforcePercent,
  type Visitor,
} from '../../../src/core/enforcement';
import { PathMap } from '../../../src/core/path-pattern';
import type { PolicyOutcome } from '../../../src/core/policy';
import { DEFAULT_TRUSTED_PROXIES, TrustedProxies } from '../../../src/core/trusted-proxies';
import { makeAttributes, type AttributesOverrides } from './make-attributes';

const INPUT_CONFIG: RtiInputConfig = {
  routeToEventType: new PathMap([]),
  trustedIpHeader: undefined,
  trustedProxies: TrustedProxies.parse(DEFAULT_TRUSTED_PROXIES),
  ja3Header: undefined,
  ja4Header: undefined,
  channelParam: undefined,
  ignoredHeaderNames: [],
  tlsCipherHeader: 'x-cheq-tls-cipher',
  tlsVersionHeader: 'x-cheq-tls-version',
  geoRegionHeader: 'x-cheq-geo-region',
  demoVerdictCookie: false,
};

const KEY = new BucketKey(Buffer.from('site-a enforce key'));
const OTHER_KEY = new BucketKey(Buffer.from('site-b enforce key'));
const UA = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36';

/** A visitor as the core sees one: RTI's input for a request, its client IP resolved. */
function visitor(overrides: AttributesOverrides = {}): Visitor {
  return buildRtiInput(makeAttributes(overrides), 'page_load', INPUT_CONFIG);
}

/** The `n`th of many visitors: one public IPv4 address each. */
function byAddress(n: number): Visitor {
  return visitor({
    headers: [['user-agent', UA]],
    peerAddress: `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`,
  });
}

/** The `n`th of many IPv6 visitors: one /64 each. */
function byPrefix(n: number): Visitor {
  return { clientIp: `2001:db8:${(n >> 16).toString(16)}:${(n & 0xffff).toString(16)}::1` };
}

function share(visitors: readonly Visitor[], percent: number, key = KEY): number {
  return (100 * visitors.filter(v => isEnforced(v, percent, key)).length) / visitors.length;
}

const PERCENTS = [1, 10, 25, 50, 90];

describe('gradual enforcement', () => {
  describe('which visitors are acted on', () => {
    const addressVisitors = Array.from({ length: 4_000 }, (_, n) => byAddress(n));
    const prefixVisitors = Array.from({ length: 4_000 }, (_, n) => byPrefix(n));

    for (const percent of PERCENTS) {
      it(`acts on ${percent} % (± 2) of 4,000 visitors told apart by IPv4 address`, () => {
        const actual = share(addressVisitors, percent);
        assert.ok(Math.abs(actual - percent) <= 2, `${actual} % acted on`);
      });

      it(`acts on ${percent} % (± 2) of 4,000 visitors told apart by IPv6 /64`, () => {
        const actual = share(prefixVisitors, percent);
        assert.ok(Math.abs(actual - percent) <= 2, `${actual} % acted on`);
      });
    }

    it('acts on nobody at 0 and on everybody at 100', () => {
      for (const visitors of [addressVisitors, prefixVisitors]) {
        assert.equal(share(visitors, 0), 0);
        assert.equal(share(visitors, 100), 100);
      }
    });

    it('only adds visitors as the percent rises', () => {
      const dropped: string[] = [];
      for (const v of [...addressVisitors.slice(0, 100), ...prefixVisitors.slice(0, 100)]) {
        let from = 0;
        while (from <= 100 && !isEnforced(v, from, KEY)) from++;
        if (from > 100) dropped.push(`${v.clientIp} never`);
        for (let p = from; p <= 100; p++) {
          if (!isEnforced(v, p, KEY)) dropped.push(`${v.clientIp} at ${p} %`);
        }
      }
      assert.deepEqual(dropped, []);
    });

    it('acts on a visitor without a client IP', () => {
      assert.ok(isEnforced({ clientIp: undefined }, 1, KEY));
    });

    it('places visitors by the secret key: another key picks other visitors', () => {
      const a = addressVisitors.slice(0, 2000).map(v => isEnforced(v, 50, KEY));
      const b = addressVisitors.slice(0, 2000).map(v => isEnforced(v, 50, OTHER_KEY));
      const differ = a.filter((enforced, i) => enforced !== b[i]).length;
      // Independent placements disagree on about half the visitors.
      assert.ok(differ > 800 && differ < 1200, `${differ} of 2000 placed differently`);
    });
  });

  describe('what a client cannot change', () => {
    it('gives one IP one answer whatever cookies and User-Agent it sends (40 of each)', () => {
      for (let ip = 0; ip < 50; ip++) {
        const peerAddress = `203.0.113.${ip}`;
        for (const percent of [10, 50, 90]) {
          const first = isEnforced(visitor({ peerAddress }), percent, KEY);
          for (let n = 0; n < 40; n++) {
            const cookie = visitor({
              headers: [
                ['user-agent', UA],
                ['cookie', `_cq_duid=bot${n}; _cheq_rti=bot${n}`],
              ],
              peerAddress,
            });
            const agent = visitor({ headers: [['user-agent', `bot/${n}`]], peerAddress });
            assert.equal(isEnforced(cookie, percent, KEY), first);
            assert.equal(isEnforced(agent, percent, KEY), first);
          }
        }
      }
    });

    it('gives every address of one IPv6 /64 one answer', () => {
      for (let n = 0; n < 200; n++) {
        const prefix = `2001:db8:${n.toString(16)}:7`;
        const first = isEnforced({ clientIp: `${prefix}::1` }, 50, KEY);
        for (const host of ['::2', ':dead:beef:0:1', ':ffff:ffff:ffff:ffff']) {
          assert.equal(isEnforced({ clientIp: `${prefix}${host}` }, 50, KEY), first);
        }
      }
    });

    it('ignores forged hops: the bucket follows the address the trusted walk ends at', () => {
      for (let n = 0; n < 100; n++) {
        const real = visitor({ peerAddress: `203.0.113.${n}` });
        const forged = visitor({
          headers: [
            ['x-forwarded-for', `6.6.${n}.6`],
            ['x-envoy-external-address', `6.6.${n}.7`],
          ],
          peerAddress: `203.0.113.${n}`,
          proxyClientIp: `6.6.${n}.8`,
        });
        assert.equal(forged.clientIp, real.clientIp);
        assert.equal(isEnforced(forged, 50, KEY), isEnforced(real, 50, KEY));
      }
    });
  });

  describe('bucketSubject', () => {
    const cases: readonly (readonly [string, string])[] = [
      ['198.51.100.7', '198.51.100.7'],
      ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2'],
      ['2001:0DB8:0001:0002::6', '2001:db8:1:2'],
      ['2001:db8::1', '2001:db8:0:0'],
      ['::1', '0:0:0:0'],
      ['2001:db8:1::', '2001:db8:1:0'],
      ['1::2:3:4:5:6:7', '1:0:2:3'],
      ['1:2::1.2.3.4', '1:2:0:0'],
      ['1:2:3:4:5::1.2.3.4', '1:2:3:4'],
      // NAT64 (RFC 6052): the IPv4 visitor, not the translator's one /64.
      ['64:ff9b::cb00:7142', '203.0.113.66'],
      ['64:ff9b::203.0.113.66', '203.0.113.66'],
      ['64:FF9B:0:0:0:0:C633:6414', '198.51.100.20'],
      ['64:ff9b:1::cb00:7142', '64:ff9b:1:0'],
    ];
    for (const [ip, expected] of cases) {
      it(`keys ${ip} as ${expected}`, () => assert.equal(bucketSubject(ip), expected));
    }
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
    const v = byAddress(1);

    for (const outcome of [deny, redirect, challenge]) {
      it(`allows a visitor outside the share instead of ${outcome.action} (${outcome.reason})`, () => {
        assert.deepEqual(enforceGradually(outcome, 0, v, KEY), {
          action: 'allow',
          reason: 'not_enforced',
          rule: outcome.rule,
          challenge: false,
          would: { action: outcome.action, reason: outcome.reason },
        });
      });

      it(`keeps ${outcome.action} (${outcome.reason}) for a visitor inside the share`, () => {
        assert.equal(enforceGradually(outcome, 100, v, KEY), outcome);
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
        assert.equal(enforceGradually(outcome, 0, v, KEY), outcome);
      }
    });
  });
});
