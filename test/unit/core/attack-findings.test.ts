// Regressions from the attacker's read of issue #20's work that need no network: each test
// asserts the safe behaviour, and each failed before its finding was fixed.

import { strict as assert } from 'node:assert';
import { resolveEventType, type RtiInputConfig } from '../../../src/core/build-rti-input';
import { resolveClientIp } from '../../../src/core/client-ip';
import { PathMap } from '../../../src/core/path-pattern';
import { TrustedProxies } from '../../../src/core/trusted-proxies';
import { makeAttributes } from './make-attributes';

/** Settings with this route_to_event_type and nothing else. */
function eventTypeConfig(routes: readonly (readonly [string, string])[]): RtiInputConfig {
  return {
    routeToEventType: new PathMap(routes),
    trustedIpHeader: undefined,
    trustedProxies: TrustedProxies.NONE,
    ja3Header: undefined,
    ja4Header: undefined,
    channelParam: undefined,
    ignoredHeaderNames: [],
    tlsCipherHeader: 'x-cheq-tls-cipher',
    tlsVersionHeader: 'x-cheq-tls-version',
    geoRegionHeader: 'x-cheq-geo-region',
    demoVerdictCookie: false,
  };
}

// Finding A6: route_to_event_type reads the canonical path with `;` parameters kept, so a bot
// picks the event type RTI evaluates: `/login;jsessionid=1` (which Tomcat and Spring route to
// /login) is sent as page_load, not login. The exclusion rule ("every reasonable reading") has
// an event-type counterpart: a mapped type of any reasonable reading, here the path without its
// `;` parameters.
describe('A6: route_to_event_type is not escaped with path parameters', () => {
  const config = eventTypeConfig([
    ['/login', 'login'],
    ['/checkout/**', 'purchase'],
  ]);
  const cases: readonly [string, string][] = [
    ['/login', 'login'],
    ['/login;jsessionid=1', 'login'],
    ['/login%3Bjsessionid=1', 'login'],
    ['/checkout;x/pay', 'purchase'],
  ];
  for (const [path, expected] of cases) {
    it(`${path} is ${expected}`, () => {
      assert.equal(resolveEventType(makeAttributes({ path }), config), expected);
    });
  }
});

// Findings of the second attacker's read (fixed; a regression test). route_to_event_type is
// meant to be unescapable ("a client must not pick it"), but only the path's own spelling and,
// when it was ambiguous, its `;`-stripped and decoded readings were looked up.
describe('B1-B3: route_to_event_type readings a bot can still pick', () => {
  /** As deploy/kubernetes/kustomization.yaml suggests, plus a section listed first. */
  const config = eventTypeConfig([
    ['/search/**', 'search'],
    ['/checkout', 'purchase'],
    ['/cart/add', 'add_to_cart'],
  ]);
  const eventType = (path: string): string => resolveEventType(makeAttributes({ path }), config);

  it('maps /checkout and /cart/add (control case)', () => {
    assert.equal(eventType('/checkout'), 'purchase');
    assert.equal(eventType('/cart/add'), 'add_to_cart');
  });

  // B1: Express (strict routing off by default), Rails, Spring MVC before 6 and ASP.NET Core
  // route /checkout/ to the /checkout handler; the exact entry does not match it.
  for (const [path, expected] of [
    ['/checkout/', 'purchase'],
    ['/cart/add/', 'add_to_cart'],
    ['/cart/add;x/', 'add_to_cart'],
  ] as const) {
    it(`B1: a trailing slash keeps ${path} ${expected}`, () => {
      assert.equal(eventType(path), expected);
    });
  }

  // B2: Express (caseSensitive off by default) and ASP.NET Core match routes case-insensitively.
  for (const [path, expected] of [
    ['/CHECKOUT', 'purchase'],
    ['/Cart/Add', 'add_to_cart'],
  ] as const) {
    it(`B2: letter case keeps ${path} ${expected}`, () => {
      assert.equal(eventType(path), expected);
    });
  }

  // B3: an ambiguous path takes the first entry (in configuration order) that any reading
  // matches, so the bot picks among its readings: the canonical reading of /search/..;/checkout
  // is under /search/ (listed first), while Tomcat and Spring serve /checkout.
  for (const path of [
    '/search/..;/checkout',
    '/search/..%2Fcheckout',
    '/search/x%2F..%2F..%2Fcheckout',
  ]) {
    it(`B3: ${path}, which a backend serves as /checkout, is purchase`, () => {
      assert.equal(eventType(path), 'purchase');
    });
  }
});

// Finding B5 of the second attacker's read (fixed; a regression test): trusted_ip_header is
// believed as soon as the calling proxy's peer is listed, whoever set it. With the documented
// example (trusted_proxies [10.0.0.0/8, 173.245.48.0/20], trusted_ip_header cf-connecting-ip)
// and the NGINX recipe behind an L7 balancer, a bot that reaches the balancer directly, not
// through Cloudflare (the origin's address is often findable), sends its own cf-connecting-ip
// and picks the address RTI judges and its enforce_percent bucket. The balancer's own report
// (X-Forwarded-For) says who its peer was: not a listed Cloudflare edge. Safe: a header set by
// a hop the walk cannot show to be listed is not believed.
describe('B5: trusted_ip_header from a client that bypassed the CDN', () => {
  const trusted = TrustedProxies.parse(['10.0.0.0/8', '173.245.48.0/20']);
  /** NGINX behind a balancer at 10.0.0.5: X-Real-IP $remote_addr, $proxy_add_x_forwarded_for. */
  const clientIpOf = (xff: string, cfConnectingIp: string): string | undefined =>
    resolveClientIp(
      makeAttributes({
        transport: 'nginx',
        peerAddress: '10.0.0.5',
        headers: [
          ['cf-connecting-ip', cfConnectingIp],
          ['x-forwarded-for', `${xff}, 10.0.0.5`],
        ],
      }),
      'cf-connecting-ip',
      trusted,
    );

  it('believes cf-connecting-ip through a listed Cloudflare edge (control case)', () => {
    assert.equal(clientIpOf('192.0.2.33, 173.245.48.10', '192.0.2.33'), '192.0.2.33');
  });

  it("is the balancer's peer when that peer is no listed edge, whatever cf-connecting-ip says", () => {
    assert.equal(clientIpOf('198.51.100.7', '203.0.113.99'), '198.51.100.7');
  });
});
