// Builds RequestAttributes for unit tests: a plain browser page load unless overridden.

import { HeaderList, type HeaderEntry } from '../../../src/core/header-list';
import type { RequestAttributes } from '../../../src/core/request-attributes';

export const BROWSER_HEADERS: readonly HeaderEntry[] = [
  ['host', 'shop.example.com'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36'],
  ['accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
  ['sec-fetch-mode', 'navigate'],
];

export type AttributesOverrides = Partial<Omit<RequestAttributes, 'headers'>> & {
  readonly headers?: readonly HeaderEntry[];
};

export function makeAttributes(overrides: AttributesOverrides = {}): RequestAttributes {
  const { headers = BROWSER_HEADERS, ...rest } = overrides;
  return {
    transport: 'grpc',
    requestId: 'req-1',
    method: 'GET',
    scheme: 'https',
    host: 'shop.example.com',
    path: '/',
    query: '',
    proxyClientIp: undefined,
    peerAddress: '203.0.113.7',
    receivedAtMs: 1_700_000_000_500,
    route: {},
    ...rest,
    headers: new HeaderList(headers),
  };
}
