// The decision settings unit tests start from: blocking mode, v1, today's code groups, no
// challenge secret; each test overrides what it is about.

import type { CoreConfig } from '../../../src/core/decide';
import { BucketKey } from '../../../src/core/enforcement';
import { PathMap, PathPatternList } from '../../../src/core/path-pattern';
import { DEFAULT_TRUSTED_PROXIES, TrustedProxies } from '../../../src/core/trusted-proxies';
import { verdictHeaderNames } from '../../../src/core/verdict-headers';

export const HEADER_NAMES = verdictHeaderNames('x-cheq-');

export function coreConfig(overrides: Partial<CoreConfig> = {}): CoreConfig {
  return {
    apiVersion: 'v1',
    rules: [],
    mode: 'blocking',
    enforcePercent: 100,
    enforceKey: new BucketKey(Buffer.from('test-enforce-key')),
    timeoutMs: 100,
    deadlineMarginMs: 10,
    blockRedirectCodes: new Set([2, 3, 6, 7, 10, 11, 16, 18]),
    challengeCodes: new Set([4, 5, 13, 14, 15, 17]),
    redirectCodes: new Set(),
    blockReasons: new Set(),
    challengeReasons: new Set(),
    redirectReasons: new Set(),
    redirectUrl: undefined,
    blockStrategy: 'redirect',
    challengeStrategy: 'allow',
    challengeUrl: undefined,
    uriExclusion: new PathPatternList(['/healthz', '^/static/']),
    ignorePaths: new PathPatternList([]),
    debugRtiResult: false,
    routeToEventType: new PathMap([
      ['/checkout', 'purchase'],
      ['/cart/.*', 'add_to_cart'],
    ]),
    trustedIpHeader: undefined,
    trustedProxies: TrustedProxies.parse(DEFAULT_TRUSTED_PROXIES),
    ja3Header: undefined,
    ja4Header: undefined,
    channelParam: undefined,
    ignoredHeaderNames: ['x-envoy-*', 'x-request-id'],
    tlsCipherHeader: 'x-cheq-tls-cipher',
    tlsVersionHeader: 'x-cheq-tls-version',
    geoRegionHeader: 'x-cheq-geo-region',
    demoVerdictCookie: false,
    verdictHeaderNames: HEADER_NAMES,
    blockPage: undefined,
    challenge: undefined,
    challengeProvider: 'browser',
    challengeUnavailable: false,
    verdictMemoryTtlMs: 300_000,
    ...overrides,
  };
}
