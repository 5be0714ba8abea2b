import { strict as assert } from 'node:assert';
import {
  buildRtiInput,
  resolveEventType,
  type RtiInputConfig,
} from '../../../src/core/build-rti-input';
import { PathMap } from '../../../src/core/path-pattern';
import { DEFAULT_TRUSTED_PROXIES, TrustedProxies } from '../../../src/core/trusted-proxies';
import { makeAttributes, type AttributesOverrides } from './make-attributes';

const IGNORED = ['x-envoy-*', 'x-request-id', 'x-forwarded-proto', 'x-b3-*'];

function inputConfig(overrides: Partial<RtiInputConfig> = {}): RtiInputConfig {
  return {
    routeToEventType: new PathMap([['/search', 'search']]),
    trustedIpHeader: undefined,
    trustedProxies: TrustedProxies.parse(DEFAULT_TRUSTED_PROXIES),
    ja3Header: undefined,
    ja4Header: undefined,
    channelParam: undefined,
    ignoredHeaderNames: IGNORED,
    tlsCipherHeader: 'x-cheq-tls-cipher',
    tlsVersionHeader: 'x-cheq-tls-version',
    geoRegionHeader: 'x-cheq-geo-region',
    demoVerdictCookie: false,
    ...overrides,
  };
}

function build(
  attrs: AttributesOverrides,
  eventType = 'page_load',
  config: Partial<RtiInputConfig> = {},
) {
  return buildRtiInput(makeAttributes(attrs), eventType, inputConfig(config));
}

describe('buildRtiInput', () => {
  describe('requestUrl', () => {
    const cases: readonly [AttributesOverrides, string][] = [
      [
        { scheme: 'https', host: 'shop.example.com', path: '/', query: '' },
        'https://shop.example.com/',
      ],
      [
        { scheme: 'http', host: 'shop.example.com:8080', path: '/search', query: 'q=a%20b&x=1' },
        'http://shop.example.com:8080/search?q=a%20b&x=1',
      ],
      [{ path: '//admin', query: '' }, 'https://shop.example.com//admin'],
      [{ path: '/a%2Fb', query: 'r=%2F' }, 'https://shop.example.com/a%2Fb?r=%2F'],
    ];
    for (const [attrs, expected] of cases) {
      it(`is the absolute URL ${expected}`, () => {
        assert.equal(build(attrs).requestUrl, expected);
      });
    }
  });

  it('copies event type, host, method, time and headers', () => {
    const attrs = makeAttributes({ method: 'POST', host: 'a.example', receivedAtMs: 1234 });
    const input = buildRtiInput(attrs, 'purchase', inputConfig());
    assert.equal(input.eventType, 'purchase');
    assert.equal(input.host, 'a.example');
    assert.equal(input.method, 'POST');
    assert.equal(input.requestTimeMs, 1234);
    assert.equal(input.headers, attrs.headers);
  });

  it('lists header names in arrival order without ignored names (exact and x-envoy-* prefix)', () => {
    const input = build({
      headers: [
        ['host', 'shop.example.com'],
        ['x-envoy-external-address', '203.0.113.7'],
        ['user-agent', 'UA'],
        ['x-request-id', 'abc'],
        ['accept', 'text/html'],
        ['x-envoy-expected-rq-timeout-ms', '200'],
        ['x-forwarded-proto', 'https'],
        ['x-b3-traceid', '1'],
        ['cookie', 'a=1'],
        ['x-envoyish', 'kept: the prefix is x-envoy-'],
        ['x-request-id-2', 'kept: not an exact match'],
        ['accept', 'application/json'],
      ],
    });
    assert.deepEqual(input.headerNames, [
      'host',
      'user-agent',
      'accept',
      'cookie',
      'x-envoyish',
      'x-request-id-2',
    ]);
  });

  it('keeps every header name when nothing is ignored', () => {
    const input = build(
      {
        headers: [
          ['x-envoy-a', '1'],
          ['b', '2'],
        ],
      },
      'page_load',
      {
        ignoredHeaderNames: [],
      },
    );
    assert.deepEqual(input.headerNames, ['x-envoy-a', 'b']);
  });

  describe('CheqCookie', () => {
    const cases: readonly [string, [string, string][], string | undefined][] = [
      ['reads _cheq_rti', [['cookie', 'a=1; _cheq_rti=tok-1; b=2']], 'tok-1'],
      [
        'reads _cheq_rti from repeated cookie headers',
        [
          ['cookie', 'a=1'],
          ['cookie', '_cheq_rti=tok-2'],
        ],
        'tok-2',
      ],
      ['is undefined without the cookie', [['cookie', 'a=1; _cq_duid=x']], undefined],
      ['is undefined without a Cookie header', [], undefined],
    ];
    for (const [name, headers, expected] of cases) {
      it(name, () => {
        assert.equal(build({ headers }).cheqCookie, expected);
      });
    }
  });

  describe('sCookie (v4.1): the _cq_s cookie, exactly', () => {
    const cases: readonly [string, string | undefined, string | undefined][] = [
      ['reads _cq_s', 'a=1; _cq_s=sess-1; b=2', 'sess-1'],
      ['keeps base64 padding', '_cq_s=c2Vzc2lvbg==', 'c2Vzc2lvbg=='],
      ['keeps a value with = inside whole', '_cq_s=a=b=c; x=1', 'a=b=c'],
      ['is not _cq_se (our pass cookie)', '_cq_se=pass; _cq_s2=two; x_cq_s=three', undefined],
      ['is not read from a longer or prefixed name', '__cq_s=1; _cq_s_=2; _CQ_S=3', undefined],
      ['takes _cq_s among look-alikes', '_cq_se=pass; _cq_s2=two; _cq_s=real; x_cq_s=x', 'real'],
      ['trims the spaces around a name', 'a=1;   _cq_s =sp', 'sp'],
      ['is undefined without a Cookie header', undefined, undefined],
      ['is empty for an empty value (left out of the body)', '_cq_s=', ''],
    ];
    for (const [name, cookie, expected] of cases) {
      it(name, () => {
        const headers: [string, string][] = cookie === undefined ? [] : [['cookie', cookie]];
        assert.equal(build({ headers }).sCookie, expected);
      });
    }
  });

  describe('proxy-set TLS and geo headers (v4.1)', () => {
    const headers: [string, string][] = [
      ['user-agent', 'Mozilla/5.0'],
      ['x-cheq-tls-cipher', 'TLS_AES_128_GCM_SHA256'],
      ['x-cheq-tls-version', 'TLSv1.3'],
      ['x-cheq-geo-region', 'CA'],
    ];

    it('reads them from the configured names', () => {
      const input = build({ headers });
      assert.deepEqual(
        [input.tlsCipher, input.tlsVersion, input.geoRegion],
        ['TLS_AES_128_GCM_SHA256', 'TLSv1.3', 'CA'],
      );
    });

    it('never reports them as headers the client sent', () => {
      assert.deepEqual(build({ headers }).headerNames, ['user-agent']);
    });

    it('reads other names when configured, and the defaults then as client headers', () => {
      const input = build({ headers: [...headers, ['x-tls', 'c1']] }, 'page_load', {
        tlsCipherHeader: 'x-tls',
      });
      assert.equal(input.tlsCipher, 'c1');
      assert.ok(input.headerNames.includes('x-cheq-tls-cipher'));
      assert.ok(!input.headerNames.includes('x-tls'));
    });

    it('reads none when the names are turned off (empty)', () => {
      const input = build({ headers }, 'page_load', {
        tlsCipherHeader: '',
        tlsVersionHeader: '',
        geoRegionHeader: '',
      });
      assert.deepEqual(
        [input.tlsCipher, input.tlsVersion, input.geoRegion],
        [undefined, undefined, undefined],
      );
    });
  });

  it("passes the proxy's request id on (v4.1 customId2)", () => {
    assert.equal(build({ requestId: 'proxy-req-7' }).proxyRequestId, 'proxy-req-7');
    assert.equal(build({ requestId: undefined }).proxyRequestId, undefined);
  });

  describe('demoVerdict', () => {
    const cookie: [string, string][] = [['cookie', 'cheq_demo_verdict=suspicious']];

    it('is read only when demo_verdict_cookie is on', () => {
      assert.equal(build({ headers: cookie }).demoVerdict, undefined);
      assert.equal(
        build({ headers: cookie }, 'page_load', { demoVerdictCookie: true }).demoVerdict,
        'suspicious',
      );
    });

    it('is only one of the three verdicts', () => {
      for (const value of ['Suspicious', 'evil', '', 'malicious,x']) {
        const headers: [string, string][] = [['cookie', `cheq_demo_verdict=${value}`]];
        const input = build({ headers }, 'page_load', { demoVerdictCookie: true });
        assert.equal(input.demoVerdict, undefined, value);
      }
    });
  });

  describe('ja3', () => {
    it('reads the configured JA3 header', () => {
      const input = build({ headers: [['x-ja3', '771,4865-4866,0-23,29-23,0']] }, 'page_load', {
        ja3Header: 'x-ja3',
      });
      assert.equal(input.ja3, '771,4865-4866,0-23,29-23,0');
    });

    it('is undefined when no JA3 header is configured, even if the client sends one', () => {
      assert.equal(build({ headers: [['x-ja3', 'forged']] }).ja3, undefined);
    });

    it('is undefined when the configured header is absent', () => {
      assert.equal(build({ headers: [] }, 'page_load', { ja3Header: 'x-ja3' }).ja3, undefined);
    });
  });

  describe('channel', () => {
    const cases: readonly {
      readonly name: string;
      readonly eventType: string;
      readonly attrs: AttributesOverrides;
      readonly channelParam?: string;
      readonly expected: string | undefined;
    }[] = [
      {
        name: 'comes from the route for the custom event type',
        eventType: 'custom',
        attrs: { route: { channel: 'newsletter' }, query: 'ch=from-query' },
        channelParam: 'ch',
        expected: 'newsletter',
      },
      {
        name: 'comes from the configured query parameter for the custom event type',
        eventType: 'custom',
        attrs: { query: 'a=1&ch=promo%20spring&ch=second' },
        channelParam: 'ch',
        expected: 'promo spring',
      },
      {
        name: 'is undefined for custom when the query lacks the parameter',
        eventType: 'custom',
        attrs: { query: 'a=1' },
        channelParam: 'ch',
        expected: undefined,
      },
      {
        name: 'is undefined for custom without a configured parameter',
        eventType: 'custom',
        attrs: { query: 'ch=promo' },
        expected: undefined,
      },
      {
        name: 'is undefined for other event types even with a route channel',
        eventType: 'page_load',
        attrs: { route: { channel: 'newsletter' }, query: 'ch=promo' },
        channelParam: 'ch',
        expected: undefined,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const input = build(c.attrs, c.eventType, { channelParam: c.channelParam });
        assert.equal(input.channel, c.expected);
      });
    }
  });

  it('resolves the client IP from the trusted header when a trusted proxy passed it on', () => {
    const header = { headers: [['cf-connecting-ip', '203.0.113.9']] as const };
    const config = {
      trustedIpHeader: 'cf-connecting-ip',
      trustedProxies: TrustedProxies.parse(['10.0.0.0/8']),
    };
    assert.equal(
      build({ ...header, peerAddress: '10.0.0.2' }, 'page_load', config).clientIp,
      '203.0.113.9',
    );
    assert.equal(
      build({ ...header, peerAddress: '198.51.100.2' }, 'page_load', config).clientIp,
      '198.51.100.2',
    );
  });
});

describe('resolveEventType', () => {
  const config = inputConfig({
    routeToEventType: new PathMap([
      ['/search', 'search'],
      ['/account/.*', 'registration'],
    ]),
  });
  const cases: readonly [string, AttributesOverrides, string][] = [
    ['page_load by default', { path: '/' }, 'page_load'],
    ['the mapped type of an exact path', { path: '/search', query: 'q=1' }, 'search'],
    ['the mapped type of a regex path', { path: '/account/new' }, 'registration'],
    ['the route type over the map', { path: '/search', route: { eventType: 'custom' } }, 'custom'],
    [
      'the map when the route type is unknown',
      { path: '/search', route: { eventType: 'x' } },
      'search',
    ],
    ['the mapped type of the canonical path', { path: '//account/./new' }, 'registration'],
    [
      'the mapped type of the path without ; parameters',
      { path: '/search;jsessionid=1' },
      'search',
    ],
    ['the mapped type of the decoded path', { path: '/search%3Bx' }, 'search'],
    [
      'page_load for a regex entry past its length bound',
      { path: `/account/${'a'.repeat(2100)}` },
      'page_load',
    ],
    ['the mapped type of an encoded path', { path: '/x/%2e%2e/se%61rch' }, 'search'],
    [
      'page_load when the route type is empty',
      { path: '/', route: { eventType: '' } },
      'page_load',
    ],
  ];
  for (const [name, attrs, expected] of cases) {
    it(`is ${name}`, () => {
      assert.equal(resolveEventType(makeAttributes(attrs), config), expected);
    });
  }

  // Readings go most resolved first (what Tomcat and Spring serve), and within one reading the
  // configuration order holds: an earlier entry matching only a less resolved reading loses.
  it('maps the most resolved reading an entry matches, then by configuration order', () => {
    const ordered = inputConfig({
      routeToEventType: new PathMap([
        ['/checkout;x/**', 'page_load'],
        ['/checkout/**', 'add_payment'],
        ['/checkout/pay', 'purchase'],
      ]),
    });
    const eventType = (path: string): string => resolveEventType(makeAttributes({ path }), ordered);
    assert.equal(eventType('/checkout;x/pay'), 'add_payment');
    assert.equal(eventType('/checkout;x/PAY/'), 'add_payment');
  });

  it('reads a path no entry matches without its trailing slash and in lower case', () => {
    const eventType = (path: string): string => resolveEventType(makeAttributes({ path }), config);
    assert.equal(eventType('/search/'), 'search');
    assert.equal(eventType('/SEARCH'), 'search');
    assert.equal(eventType('/Account/New/'), 'registration');
    assert.equal(eventType('/x/..;/Search/'), 'search');
    assert.equal(eventType('/'), 'page_load');
    assert.equal(eventType('/searches/'), 'page_load');
  });

  it('maps a loose reading by an entry listed before a catch-all', () => {
    const catchAll = inputConfig({
      routeToEventType: new PathMap([
        ['/checkout', 'purchase'],
        ['/**', 'page_load'],
      ]),
    });
    const eventType = (path: string): string =>
      resolveEventType(makeAttributes({ path }), catchAll);
    assert.equal(eventType('/CHECKOUT'), 'purchase');
    assert.equal(eventType('/checkout/'), 'purchase');
    assert.equal(eventType('/Other/'), 'page_load');
  });

  it('keeps the entry the path itself matches when a loose reading matches only later', () => {
    const exact = inputConfig({
      routeToEventType: new PathMap([
        ['/checkout/', 'add_to_cart'],
        ['/Checkout', 'search'],
        ['/checkout', 'purchase'],
      ]),
    });
    const eventType = (path: string): string => resolveEventType(makeAttributes({ path }), exact);
    assert.equal(eventType('/checkout/'), 'add_to_cart');
    assert.equal(eventType('/Checkout'), 'search');
    assert.equal(eventType('/CHECKOUT'), 'purchase');
  });
});
