// What tests of the RTI wire code and of what wraps it hand to RTI: one request as the core
// builds it (every field a test does not name set to a plain default), and the credentials.

import { HeaderList, type HeaderEntry } from '../../src/core/header-list';
import type { RtiInput } from '../../src/core/rti-port';
import type { RtiCredentials } from '../../src/rti/rti-wire';

/** What the wire code signs every RTI call with in these tests. */
export const TEST_CREDENTIALS: RtiCredentials = {
  apiKey: 'key-123',
  tagHash: 'tag-abc',
  middlewareVersion: 'cheq-rti-authz_0.1.0',
};

/** A page load of https://shop.example.com/p?x=1 carrying `headers`; `overrides` replace fields. */
export function rtiInput(
  overrides: Partial<RtiInput> = {},
  headers: readonly HeaderEntry[] = [],
): RtiInput {
  return {
    eventType: 'page_load',
    host: 'shop.example.com',
    clientIp: '203.0.113.7',
    requestUrl: 'https://shop.example.com/p?x=1',
    requestTimeMs: 1_700_000_000_500,
    method: 'GET',
    headers: new HeaderList(headers),
    headerNames: headers.map(([name]) => name),
    cheqCookie: undefined,
    duidCookie: undefined,
    pvidCookie: undefined,
    sCookie: undefined,
    proxyRequestId: undefined,
    tlsCipher: undefined,
    tlsVersion: undefined,
    geoRegion: undefined,
    demoVerdict: undefined,
    ja3: undefined,
    ja4: undefined,
    channel: undefined,
    ...overrides,
  };
}
