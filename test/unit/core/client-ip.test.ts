import { strict as assert } from 'node:assert';
import { resolveClientIp } from '../../../src/core/client-ip';
import type { HeaderEntry } from '../../../src/core/header-list';
import { makeAttributes } from './make-attributes';

interface Case {
  readonly name: string;
  readonly trustedIpHeader: string | undefined;
  readonly headers?: readonly HeaderEntry[];
  readonly proxyClientIp?: string;
  readonly peerAddress?: string;
  readonly expected: string | undefined;
}

const PROXY = '198.51.100.20';
const PEER = '10.0.0.5';

const CASES: readonly Case[] = [
  {
    name: 'uses the trusted header when present and an IP',
    trustedIpHeader: 'cf-connecting-ip',
    headers: [['cf-connecting-ip', '203.0.113.7']],
    expected: '203.0.113.7',
  },
  {
    name: 'takes the first element of a comma list in the trusted header',
    trustedIpHeader: 'x-forwarded-for',
    headers: [['x-forwarded-for', ' 203.0.113.7 , 10.0.0.1, 10.0.0.2']],
    expected: '203.0.113.7',
  },
  {
    name: 'takes the first of repeated trusted headers',
    trustedIpHeader: 'x-forwarded-for',
    headers: [
      ['x-forwarded-for', '203.0.113.8'],
      ['x-forwarded-for', '10.0.0.1'],
    ],
    expected: '203.0.113.8',
  },
  {
    name: 'accepts an IPv6 literal in the trusted header',
    trustedIpHeader: 'true-client-ip',
    headers: [['true-client-ip', '2001:db8::1']],
    expected: '2001:db8::1',
  },
  {
    name: 'ignores garbage in the trusted header and falls through to the proxy client IP',
    trustedIpHeader: 'x-forwarded-for',
    headers: [['x-forwarded-for', 'unknown, 203.0.113.7']],
    proxyClientIp: PROXY,
    expected: PROXY,
  },
  {
    name: 'ignores an IP:port in the trusted header',
    trustedIpHeader: 'x-real-ip',
    headers: [['x-real-ip', '203.0.113.7:4431']],
    proxyClientIp: PROXY,
    expected: PROXY,
  },
  {
    name: 'ignores a bracketed IPv6 in the trusted header',
    trustedIpHeader: 'x-real-ip',
    headers: [['x-real-ip', '[2001:db8::1]']],
    expected: PEER,
  },
  {
    name: 'ignores an empty trusted header',
    trustedIpHeader: 'x-real-ip',
    headers: [['x-real-ip', '']],
    proxyClientIp: PROXY,
    expected: PROXY,
  },
  {
    name: 'uses the proxy client IP when the trusted header is absent',
    trustedIpHeader: 'cf-connecting-ip',
    headers: [['x-forwarded-for', '203.0.113.7']],
    proxyClientIp: PROXY,
    expected: PROXY,
  },
  {
    name: 'does not read client headers when no trusted header is configured',
    trustedIpHeader: undefined,
    headers: [
      ['x-forwarded-for', '203.0.113.7'],
      ['x-real-ip', '203.0.113.8'],
    ],
    proxyClientIp: PROXY,
    expected: PROXY,
  },
  {
    name: 'uses the peer address when neither trusted header nor proxy client IP is usable',
    trustedIpHeader: 'x-real-ip',
    proxyClientIp: 'not-an-ip',
    expected: PEER,
  },
  {
    name: 'uses the peer address with nothing else',
    trustedIpHeader: undefined,
    expected: PEER,
  },
  {
    name: 'returns undefined when nothing is an IP',
    trustedIpHeader: 'x-real-ip',
    headers: [['x-real-ip', 'garbage']],
    proxyClientIp: 'garbage',
    peerAddress: '/var/run/envoy.sock',
    expected: undefined,
  },
];

describe('resolveClientIp', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const attrs = makeAttributes({
        headers: c.headers ?? [],
        proxyClientIp: c.proxyClientIp,
        peerAddress: c.peerAddress ?? PEER,
      });
      assert.equal(resolveClientIp(attrs, c.trustedIpHeader), c.expected);
    });
  }
});
