import { strict as assert } from 'node:assert';
import { resolveClientIp } from '../../../src/core/client-ip';
import type { HeaderEntry } from '../../../src/core/header-list';
import type { Transport } from '../../../src/core/request-attributes';
import {
  DEFAULT_TRUSTED_PROXIES,
  readHopAddress,
  TrustedProxies,
} from '../../../src/core/trusted-proxies';
import { makeAttributes } from './make-attributes';

/** Hops in front of the calling proxy, as an operator lists them. */
const TRUSTED = TrustedProxies.parse(['10.0.0.0/8', 'fd00::/8', '127.0.0.1']);
const DEFAULT = TrustedProxies.parse(DEFAULT_TRUSTED_PROXIES);

/**
 * `peerAddress` is what the adapter hands over: the HTTP proxy's report of its own peer (else
 * its socket peer), gRPC source.address; `proxyClientIp` is gRPC's x-envoy-external-address.
 */
interface Case {
  readonly name: string;
  readonly transport?: Transport;
  readonly peerAddress: string | undefined;
  readonly proxyClientIp?: string;
  readonly xff?: string;
  readonly trustedIpHeader?: string;
  readonly headers?: readonly HeaderEntry[];
  readonly trusted?: TrustedProxies;
  readonly expected: string | undefined;
}

const CASES: readonly Case[] = [
  // The default trusts nobody beyond the calling proxy: the peer it reports is the client.
  {
    name: 'default: NGINX behind a load balancer that SNATs: its private peer, never the XFF',
    transport: 'nginx',
    peerAddress: '10.0.0.9',
    xff: '6.6.6.6, 10.0.0.9',
    trusted: DEFAULT,
    expected: '10.0.0.9',
  },
  {
    name: 'default: loopback is no proxy either',
    transport: 'nginx',
    peerAddress: '127.0.0.1',
    xff: '6.6.6.6',
    trusted: DEFAULT,
    expected: '127.0.0.1',
  },
  {
    name: 'default: Envoy HTTP: the x-real-ip Envoy added',
    transport: 'envoy_http',
    peerAddress: '198.51.100.7',
    xff: '6.6.6.6',
    trusted: DEFAULT,
    expected: '198.51.100.7',
  },
  {
    name: 'default: forward auth: the entry Caddy appended, not the forged one left of it',
    transport: 'forward_auth',
    peerAddress: '198.51.100.7',
    xff: '6.6.6.6, 198.51.100.7',
    trusted: DEFAULT,
    expected: '198.51.100.7',
  },
  {
    name: 'default: gRPC: source.address, whatever x-envoy-external-address and XFF say',
    peerAddress: '10.0.0.3',
    proxyClientIp: '6.6.6.6',
    xff: '6.6.6.6, 10.0.0.3',
    trusted: DEFAULT,
    expected: '10.0.0.3',
  },
  {
    name: 'default: trusted_ip_header is not believed',
    peerAddress: '10.0.0.3',
    trustedIpHeader: 'cf-connecting-ip',
    headers: [['cf-connecting-ip', '6.6.6.6']],
    trusted: DEFAULT,
    expected: '10.0.0.3',
  },
  {
    name: 'none trusts nobody, as the default',
    peerAddress: '10.0.0.3',
    proxyClientIp: '198.51.100.7',
    xff: '198.51.100.8',
    trusted: TrustedProxies.NONE,
    expected: '10.0.0.3',
  },
  // With the hops in front listed.
  {
    name: 'NGINX: a listed balancer in front: the visitor it appended to XFF',
    transport: 'nginx',
    peerAddress: '10.1.1.1',
    xff: '6.6.6.6, 198.51.100.7, 10.1.1.1',
    expected: '198.51.100.7',
  },
  {
    name: 'an unlisted first hop is the client, whatever XFF says',
    transport: 'nginx',
    peerAddress: '192.0.2.50',
    xff: '6.6.6.6',
    expected: '192.0.2.50',
  },
  {
    name: 'gRPC: an unlisted source.address is the client, external address and XFF ignored',
    peerAddress: '198.51.100.7',
    proxyClientIp: '6.6.6.6',
    xff: '6.6.6.6',
    expected: '198.51.100.7',
  },
  {
    name: 'gRPC: a listed source.address, then x-envoy-external-address',
    peerAddress: '10.0.0.3',
    proxyClientIp: '198.51.100.7',
    xff: '6.6.6.6, 198.51.100.7, 10.0.0.3',
    expected: '198.51.100.7',
  },
  {
    name: 'gRPC: a listed source.address without external address: XFF from the right',
    peerAddress: '10.0.0.3',
    xff: '6.6.6.6, 198.51.100.7, 10.0.0.3',
    expected: '198.51.100.7',
  },
  // Stepping left through trusted hops.
  {
    name: 'steps over every trusted hop to the first untrusted one',
    peerAddress: '127.0.0.1',
    proxyClientIp: '10.0.0.2',
    xff: '6.6.6.6, 198.51.100.7, 10.1.1.1, 10.0.0.2',
    expected: '198.51.100.7',
  },
  {
    name: 'a trusted external address leads on to XFF',
    peerAddress: '10.0.0.3',
    proxyClientIp: '10.0.0.4',
    xff: '198.51.100.7, 10.0.0.4',
    expected: '198.51.100.7',
  },
  {
    name: 'all hops trusted: the leftmost address read',
    peerAddress: '127.0.0.1',
    proxyClientIp: '10.0.0.2',
    xff: '10.0.0.8, 10.0.0.2',
    expected: '10.0.0.8',
  },
  {
    name: 'no XFF: the last trusted hop',
    peerAddress: '127.0.0.1',
    proxyClientIp: '10.0.0.2',
    expected: '10.0.0.2',
  },
  {
    name: 'repeated XFF lines are read as one list',
    peerAddress: '10.0.0.3',
    headers: [
      ['x-forwarded-for', '6.6.6.6'],
      ['x-forwarded-for', '198.51.100.7, 10.0.0.3'],
    ],
    expected: '198.51.100.7',
  },
  // IPv6, IPv4-mapped, ports.
  {
    name: 'IPv6 hops',
    peerAddress: 'fd00::1',
    proxyClientIp: 'FD00::2',
    xff: '2001:db8::6, 2001:DB8::7, fd00::2',
    expected: '2001:db8::7',
  },
  {
    name: 'an IPv4-mapped IPv6 peer is read as IPv4',
    peerAddress: '::ffff:10.0.0.3',
    proxyClientIp: '::ffff:198.51.100.7',
    expected: '198.51.100.7',
  },
  {
    name: 'ports and brackets in XFF entries',
    peerAddress: '10.0.0.3',
    xff: '6.6.6.6:1, [2001:db8::7]:443, 10.0.0.9:8080, [fd00::3]',
    expected: '2001:db8::7',
  },
  {
    name: 'an IPv4 entry with a port',
    peerAddress: '10.0.0.3',
    xff: '198.51.100.7:52100',
    expected: '198.51.100.7',
  },
  // Garbage.
  {
    name: 'garbage left of the client is never read',
    peerAddress: '10.0.0.3',
    xff: 'unknown, <script>, 198.51.100.7, 10.0.0.3',
    expected: '198.51.100.7',
  },
  {
    name: 'garbage between trusted hops ends the walk at the last trusted hop',
    peerAddress: '10.0.0.3',
    xff: '6.6.6.6, unknown, 10.0.0.3',
    expected: '10.0.0.3',
  },
  {
    name: 'an unreadable first hop (X-Real-IP: unix:) gives no address, whatever XFF says',
    transport: 'nginx',
    peerAddress: 'unix:',
    xff: '198.51.100.7',
    expected: undefined,
  },
  {
    name: 'empty entries are skipped',
    peerAddress: '10.0.0.3',
    xff: '198.51.100.7, , 10.0.0.3,',
    expected: '198.51.100.7',
  },
  {
    name: 'a zone index is no address',
    peerAddress: '10.0.0.3',
    xff: 'fe80::1%eth0',
    expected: '10.0.0.3',
  },
  {
    name: 'no peer at all: undefined',
    peerAddress: undefined,
    expected: undefined,
  },
  {
    name: 'no peer: an external address or XFF is not believed from nobody',
    peerAddress: undefined,
    proxyClientIp: '198.51.100.7',
    xff: '198.51.100.7',
    expected: undefined,
  },
  {
    name: 'an unreadable peer and nothing else: undefined',
    peerAddress: '/var/run/envoy.sock',
    proxyClientIp: '198.51.100.7',
    expected: undefined,
  },
  {
    name: 'many trusted entries: still the first untrusted from the right',
    peerAddress: '10.0.0.3',
    xff: `198.51.100.7, ${Array.from({ length: 500 }, (_, n) => `10.2.${n >> 8}.${n & 255}`).join(', ')}`,
    expected: '198.51.100.7',
  },
  {
    name: 'many forged entries cost nothing: the walk stops at the client',
    peerAddress: '10.0.0.3',
    xff: `${'6.6.6.6, '.repeat(2000)}198.51.100.7`,
    expected: '198.51.100.7',
  },
  // trusted_ip_header.
  {
    name: 'trusted_ip_header when every hop the walk reads is trusted',
    peerAddress: '10.0.0.3',
    proxyClientIp: '10.0.0.4',
    trustedIpHeader: 'cf-connecting-ip',
    headers: [['cf-connecting-ip', '192.0.2.33']],
    xff: '10.0.0.4',
    expected: '192.0.2.33',
  },
  {
    name: 'trusted_ip_header ignored when the walk reaches an untrusted address (set by a client)',
    peerAddress: '10.0.0.3',
    proxyClientIp: '10.0.0.4',
    trustedIpHeader: 'cf-connecting-ip',
    headers: [['cf-connecting-ip', '6.6.6.6']],
    xff: '198.51.100.7, 10.0.0.4',
    expected: '198.51.100.7',
  },
  {
    name: 'trusted_ip_header ignored when the proxy reports an untrusted peer',
    peerAddress: '10.0.0.3',
    proxyClientIp: '198.51.100.7',
    trustedIpHeader: 'cf-connecting-ip',
    headers: [['cf-connecting-ip', '6.6.6.6']],
    expected: '198.51.100.7',
  },
  {
    name: 'trusted_ip_header ignored from an untrusted caller',
    peerAddress: '198.51.100.7',
    trustedIpHeader: 'cf-connecting-ip',
    headers: [['cf-connecting-ip', '6.6.6.6']],
    expected: '198.51.100.7',
  },
  {
    name: 'trusted_ip_header with a list: the entry nearest us',
    peerAddress: '10.0.0.3',
    trustedIpHeader: 'true-client-ip',
    headers: [['true-client-ip', '6.6.6.6, 192.0.2.33']],
    expected: '192.0.2.33',
  },
  {
    name: 'trusted_ip_header unreadable: the walk goes on',
    peerAddress: '10.0.0.3',
    trustedIpHeader: 'cf-connecting-ip',
    headers: [['cf-connecting-ip', 'garbage']],
    xff: '198.51.100.7',
    expected: '198.51.100.7',
  },
];

describe('resolveClientIp', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const headers = [...(c.headers ?? [])];
      if (c.xff !== undefined) headers.push(['x-forwarded-for', c.xff]);
      const attrs = makeAttributes({
        transport: c.transport ?? 'grpc',
        headers,
        peerAddress: c.peerAddress,
        proxyClientIp: c.proxyClientIp,
      });
      assert.equal(resolveClientIp(attrs, c.trustedIpHeader, c.trusted ?? TRUSTED), c.expected);
    });
  }
});

describe('readHopAddress', () => {
  const cases: readonly (readonly [string, string | undefined])[] = [
    ['198.51.100.7', '198.51.100.7'],
    ['  198.51.100.7\t', '198.51.100.7'],
    ['198.51.100.7:8080', '198.51.100.7'],
    ['2001:DB8::7', '2001:db8::7'],
    ['[2001:db8::7]', '2001:db8::7'],
    ['[2001:db8::7]:443', '2001:db8::7'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['::FFFF:198.51.100.7', '198.51.100.7'],
    ['[2001:db8::7', undefined],
    ['[2001:db8::7]x', undefined],
    ['198.51.100.256', undefined],
    ['unknown', undefined],
    ['', undefined],
    ['fe80::1%eth0', undefined],
    ['_hidden', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`reads ${JSON.stringify(text)} as ${String(expected)}`, () => {
      assert.equal(readHopAddress(text)?.ip, expected);
    });
  }
});

describe('TrustedProxies.parse', () => {
  it('matches addresses and ranges of both families', () => {
    const trusted = TrustedProxies.parse(['192.0.2.1', '10.0.0.0/8', '2001:db8::/32', '::1']);
    const includes = (ip: string): boolean => trusted.includes(readHopAddress(ip)!);
    assert.ok(includes('192.0.2.1'));
    assert.ok(!includes('192.0.2.2'));
    assert.ok(includes('10.255.1.1'));
    assert.ok(includes('2001:db8:ffff::1'));
    assert.ok(!includes('2001:db9::1'));
    assert.ok(includes('::1'));
    assert.ok(!includes('127.0.0.1'));
  });

  it('answers the same past the addresses it remembers', () => {
    const trusted = TrustedProxies.parse(['10.0.0.0/8']);
    // Twice as many addresses as it remembers, twice over: read, forgotten, read again.
    const wrong: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < 5_000; n++) {
        const inside = { ip: `10.0.${n >> 8}.${n & 255}`, family: 'ipv4' } as const;
        const outside = { ip: `11.0.${n >> 8}.${n & 255}`, family: 'ipv4' } as const;
        if (!trusted.includes(inside) || trusted.includes(outside)) wrong.push(n);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('trusts nobody with none or an empty list', () => {
    for (const entries of [['none'], []]) {
      assert.ok(!TrustedProxies.parse(entries).includes({ ip: '127.0.0.1', family: 'ipv4' }));
    }
  });

  for (const bad of [
    '10.0.0.0/33',
    '2001:db8::/129',
    'localhost',
    '10.0.0.0/',
    '10.0.0.0/x',
    'none',
  ]) {
    it(`refuses ${JSON.stringify(bad)} in a list, naming it`, () => {
      assert.throws(
        () => TrustedProxies.parse(['10.0.0.1', bad]),
        (err: Error) => err.message.includes(JSON.stringify(bad)),
      );
    });
  }
});
