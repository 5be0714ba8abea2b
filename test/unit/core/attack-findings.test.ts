// Regressions from the attacker's read of issue #20's work that need no network: each test
// asserts the safe behaviour, and each failed before its finding was fixed.

import { strict as assert } from 'node:assert';
import { resolveEventType, type RtiInputConfig } from '../../../src/core/build-rti-input';
import { PathMap } from '../../../src/core/path-pattern';
import { TrustedProxies } from '../../../src/core/trusted-proxies';
import { makeAttributes } from './make-attributes';

// Finding A6: route_to_event_type reads the canonical path with `;` parameters kept, so a bot
// picks the event type RTI evaluates: `/login;jsessionid=1` (which Tomcat and Spring route to
// /login) is sent as page_load, not login. The exclusion rule ("every reasonable reading") has
// an event-type counterpart: a mapped type of any reasonable reading, here the path without its
// `;` parameters. (test/unit/core/build-rti-input.test.ts asserts today's page_load.)
describe('A6: route_to_event_type is not escaped with path parameters', () => {
  const config: RtiInputConfig = {
    routeToEventType: new PathMap([
      ['/login', 'login'],
      ['/checkout/**', 'purchase'],
    ]),
    trustedIpHeader: undefined,
    trustedProxies: TrustedProxies.NONE,
    ja3Header: undefined,
    ja4Header: undefined,
    channelParam: undefined,
    ignoredHeaderNames: [],
  };
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
