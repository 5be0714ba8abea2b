import { strict as assert } from 'node:assert';
import { toAttributes } from '../../../../src/adapters/grpc/to-attributes';
import type { RequestAttributes } from '../../../../src/core/request-attributes';
import { checkCodec } from '../../../../src/adapters/grpc/check-codec';
import { loadExtAuthzPackage } from '../../../../src/adapters/grpc/load-protos';
import type { CheckRequest } from '../../../../src/generated/envoy/service/auth/v3/CheckRequest';

// CheckRequests as Envoy sends them, decoded by proto-loader (keepCase, longs as strings, bytes as
// Buffers, oneofs): the shapes the gRPC server hands to toAttributes.

const CHROME_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';

function peer(address: string, port: number) {
  return {
    address: {
      socket_address: {
        protocol: 0 as const,
        address,
        port_value: port,
        port_specifier: 'port_value' as const,
      },
      address: 'socket_address' as const,
    },
  };
}

const TIME = { seconds: '1700000000', nanos: 500_000_000 };
const TIME_MS = 1_700_000_000_500;

/** HTTP/1.1 through Envoy's HCM, `headers` map (the default encoding). */
const HTTP1: CheckRequest = {
  attributes: {
    source: peer('203.0.113.7', 54321),
    destination: peer('10.0.0.2', 8080),
    request: {
      time: TIME,
      http: {
        id: '13174392620416496574',
        method: 'GET',
        headers: {
          ':authority': 'shop.example.com',
          ':path': '/products/42?color=red',
          ':method': 'GET',
          ':scheme': 'https',
          'user-agent': CHROME_UA,
          accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
          'accept-language': 'en-US,en;q=0.9',
          cookie: 'session=s1; _cheq_rti=cheq-token',
          'x-forwarded-proto': 'https',
          'x-request-id': '0b4a3c2e-6f1d-4b8e-9a7c-2d5e8f1a3b6c',
          'x-envoy-external-address': '203.0.113.7',
        },
        path: '/products/42?color=red',
        host: 'shop.example.com',
        scheme: 'https',
        query: '',
        fragment: '',
        size: '0',
        protocol: 'HTTP/1.1',
        body: '',
      },
    },
    context_extensions: {},
  },
};

/** HTTP/2 from a browser: no Host header exists, none is added. */
const HTTP2: CheckRequest = {
  attributes: {
    source: peer('2001:db8::7', 443),
    request: {
      time: TIME,
      http: {
        id: '42',
        method: 'POST',
        headers: {
          ':authority': 'shop.example.com',
          ':path': '/api/cart',
          ':method': 'POST',
          ':scheme': 'https',
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': CHROME_UA,
        },
        path: '/api/cart',
        host: 'shop.example.com',
        scheme: 'https',
        size: '27',
        protocol: 'HTTP/2',
      },
    },
  },
};

function raw(key: string, value: string) {
  return { key, value: '', raw_value: Buffer.from(value, 'utf8') };
}

/** HTTP/1.1 with encode_raw_headers: header_map in arrival order, duplicates kept. */
const RAW_HEADERS: CheckRequest = {
  attributes: {
    source: peer('203.0.113.9', 40000),
    request: {
      time: TIME,
      http: {
        id: '77',
        method: 'GET',
        header_map: {
          headers: [
            raw(':authority', 'shop.example.com:8443'),
            raw(':path', '/search?q=caf%C3%A9'),
            raw(':method', 'GET'),
            raw(':scheme', 'https'),
            raw('user-agent', CHROME_UA),
            raw('cookie', 'a=1'),
            raw('accept', 'text/html'),
            raw('cookie', '_cheq_rti=raw-token'),
            raw('x-forwarded-for', '198.51.100.1'),
            raw('x-forwarded-for', '203.0.113.9'),
            raw('x-custom', 'caf\u00e9'),
          ],
        },
        path: '/search?q=caf%C3%A9',
        host: 'shop.example.com:8443',
        scheme: 'https',
        size: '-1',
        protocol: 'HTTP/1.1',
      },
    },
  },
};

/** gRFC A92 (proxyless gRPC server): header_map only; no id, scheme, headers, host. */
const GRPC_A92: CheckRequest = {
  attributes: {
    source: peer('10.1.2.3', 51000),
    destination: peer('10.1.2.4', 50051),
    request: {
      time: TIME,
      http: {
        method: 'POST',
        header_map: {
          headers: [
            raw('content-type', 'application/grpc'),
            raw('te', 'trailers'),
            raw('user-agent', 'grpc-node-js/1.14.0'),
            raw('grpc-timeout', '99m'),
          ],
        },
        path: '/shop.Catalog/GetProduct',
        size: '-1',
        protocol: 'HTTP/2',
      },
    },
  },
};

interface Expected {
  readonly requestId: string | undefined;
  readonly method: string;
  readonly scheme: string;
  readonly host: string;
  readonly path: string;
  readonly query: string;
  readonly headerEntries: readonly (readonly [string, string])[];
  readonly proxyClientIp: string | undefined;
  readonly peerAddress: string | undefined;
  readonly receivedAtMs: number;
  readonly route: RequestAttributes['route'];
}

function summary(attrs: RequestAttributes): Expected {
  return {
    requestId: attrs.requestId,
    method: attrs.method,
    scheme: attrs.scheme,
    host: attrs.host,
    path: attrs.path,
    query: attrs.query,
    headerEntries: attrs.headers.entries,
    proxyClientIp: attrs.proxyClientIp,
    peerAddress: attrs.peerAddress,
    receivedAtMs: attrs.receivedAtMs,
    route: attrs.route,
  };
}

const CASES: readonly [name: string, request: CheckRequest, expected: Expected][] = [
  [
    'HTTP/1.1 with a headers map: pseudo-headers out, host added first',
    HTTP1,
    {
      requestId: '0b4a3c2e-6f1d-4b8e-9a7c-2d5e8f1a3b6c',
      method: 'GET',
      scheme: 'https',
      host: 'shop.example.com',
      path: '/products/42',
      query: 'color=red',
      headerEntries: [
        ['host', 'shop.example.com'],
        ['user-agent', CHROME_UA],
        ['accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
        ['accept-language', 'en-US,en;q=0.9'],
        ['cookie', 'session=s1; _cheq_rti=cheq-token'],
        ['x-forwarded-proto', 'https'],
        ['x-request-id', '0b4a3c2e-6f1d-4b8e-9a7c-2d5e8f1a3b6c'],
        ['x-envoy-external-address', '203.0.113.7'],
      ],
      proxyClientIp: '203.0.113.7',
      peerAddress: '203.0.113.7',
      receivedAtMs: TIME_MS,
      route: {},
    },
  ],
  [
    'HTTP/2: no host header added, Envoy id as request id',
    HTTP2,
    {
      requestId: '42',
      method: 'POST',
      scheme: 'https',
      host: 'shop.example.com',
      path: '/api/cart',
      query: '',
      headerEntries: [
        ['content-type', 'application/json'],
        ['accept', 'application/json'],
        ['user-agent', CHROME_UA],
      ],
      proxyClientIp: undefined,
      peerAddress: '2001:db8::7',
      receivedAtMs: TIME_MS,
      route: {},
    },
  ],
  [
    'HTTP/1.1 with header_map raw values: order and duplicate entries kept',
    RAW_HEADERS,
    {
      requestId: '77',
      method: 'GET',
      scheme: 'https',
      host: 'shop.example.com:8443',
      path: '/search',
      query: 'q=caf%C3%A9',
      headerEntries: [
        ['host', 'shop.example.com:8443'],
        ['user-agent', CHROME_UA],
        ['cookie', 'a=1'],
        ['accept', 'text/html'],
        ['cookie', '_cheq_rti=raw-token'],
        ['x-forwarded-for', '198.51.100.1'],
        ['x-forwarded-for', '203.0.113.9'],
        ['x-custom', 'caf\u00e9'],
      ],
      proxyClientIp: undefined,
      peerAddress: '203.0.113.9',
      receivedAtMs: TIME_MS,
      route: {},
    },
  ],
  [
    'gRFC A92 shape: header_map only, no host or scheme',
    GRPC_A92,
    {
      requestId: undefined,
      method: 'POST',
      scheme: 'http',
      host: '',
      path: '/shop.Catalog/GetProduct',
      query: '',
      headerEntries: [
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
        ['user-agent', 'grpc-node-js/1.14.0'],
        ['grpc-timeout', '99m'],
      ],
      proxyClientIp: undefined,
      peerAddress: '10.1.2.3',
      receivedAtMs: TIME_MS,
      route: {},
    },
  ],
];

function withHttp(
  base: CheckRequest,
  http: Partial<
    NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']>
  >,
  attributes: Partial<NonNullable<CheckRequest['attributes']>> = {},
): CheckRequest {
  const baseAttributes = base.attributes ?? {};
  return {
    attributes: {
      ...baseAttributes,
      ...attributes,
      request: {
        ...baseAttributes.request,
        http: { ...baseAttributes.request?.http, ...http },
      },
    },
  };
}

describe('toAttributes', () => {
  for (const [name, request, expected] of CASES) {
    it(`reads ${name}`, () => {
      const attrs = toAttributes(request);
      assert.equal(attrs.transport, 'grpc');
      assert.deepEqual(summary(attrs), expected);
    });
  }

  describe("on the server's decoding (checkCodec), the same as on proto-loader's", () => {
    const pkg = loadExtAuthzPackage();
    const { decode } = checkCodec(pkg.protoDir);
    const check = pkg.proto.envoy.service.auth.v3.Authorization.service['Check'];
    const timed: CheckRequest = {
      attributes: {
        ...HTTP2.attributes,
        request: {
          ...HTTP2.attributes?.request,
          time: { seconds: '1764000000', nanos: 500_000_000 },
        },
      },
    };
    const requests: [string, CheckRequest][] = [
      ...CASES.map(([name, request]): [string, CheckRequest] => [name, request]),
      ['a request with a time', timed],
    ];
    for (const [name, request] of requests) {
      it(`reads ${name}`, () => {
        const bytes = check.requestSerialize(request);
        const decoded = toAttributes(decode(bytes));
        const expected = toAttributes(check.requestDeserialize(bytes) as CheckRequest);
        assert.deepEqual(
          { ...decoded, headers: decoded.headers.entries },
          { ...expected, headers: expected.headers.entries },
        );
      });
    }

    it('reads the int64 seconds of a decoded time', () => {
      const attrs = toAttributes(decode(check.requestSerialize(timed)));
      assert.equal(attrs.receivedAtMs, 1_764_000_000_500);
    });

    it('throws on bytes that are not a CheckRequest', () => {
      assert.throws(() => decode(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])));
    });
  });

  it('joins duplicate raw cookie entries with "; " and lists each name once', () => {
    const { headers } = toAttributes(RAW_HEADERS);
    assert.equal(headers.get('cookie'), 'a=1; _cheq_rti=raw-token');
    assert.equal(headers.get('x-forwarded-for'), '198.51.100.1, 203.0.113.9');
    assert.deepEqual(
      [...headers.names()],
      ['host', 'user-agent', 'cookie', 'accept', 'x-forwarded-for', 'x-custom'],
    );
  });

  it('reads header_map entries that carry value instead of raw_value', () => {
    const attrs = toAttributes(
      withHttp(GRPC_A92, {
        header_map: {
          headers: [
            { key: ':authority', value: 'api.example.com' },
            { key: 'User-Agent', value: 'curl/8.5.0' },
            { key: 'x-empty', value: '', raw_value: Buffer.alloc(0) },
          ],
        },
      }),
    );
    assert.equal(attrs.host, 'api.example.com');
    assert.deepEqual(attrs.headers.entries, [
      ['user-agent', 'curl/8.5.0'],
      ['x-empty', ''],
    ]);
  });

  it('never throws on an empty CheckRequest and uses defaults', () => {
    const before = Date.now();
    const attrs = toAttributes({});
    const after = Date.now();
    assert.equal(attrs.method, 'GET');
    assert.equal(attrs.path, '/');
    assert.equal(attrs.query, '');
    assert.equal(attrs.scheme, 'http');
    assert.equal(attrs.host, '');
    assert.equal(attrs.requestId, undefined);
    assert.equal(attrs.peerAddress, undefined);
    assert.equal(attrs.proxyClientIp, undefined);
    assert.deepEqual(attrs.headers.entries, []);
    assert.deepEqual(attrs.route, {});
    assert.ok(attrs.receivedAtMs >= before && attrs.receivedAtMs <= after);
  });

  const sparse: readonly [string, CheckRequest][] = [
    ['attributes only', { attributes: {} }],
    ['request without http', { attributes: { request: {} } }],
    ['http without fields', { attributes: { request: { http: {} } } }],
    ['header_map without headers', { attributes: { request: { http: { header_map: {} } } } }],
    [
      'a header without key',
      { attributes: { request: { http: { header_map: { headers: [{}] } } } } },
    ],
    ['source without address', { attributes: { source: {} } }],
    ['address without socket_address', { attributes: { source: { address: {} } } }],
  ];
  for (const [name, request] of sparse) {
    it(`never throws on a CheckRequest with ${name}`, () => {
      const attrs = toAttributes(request);
      assert.equal(attrs.method, 'GET');
      assert.equal(attrs.path, '/');
      assert.deepEqual(attrs.headers.entries, []);
    });
  }

  describe('paths as the proxy saw them', () => {
    const cases: readonly [target: string, path: string, query: string][] = [
      ['//admin', '//admin', ''],
      ['//admin?x=1', '//admin', 'x=1'],
      ['/a%2Fb', '/a%2Fb', ''],
      ['/%2F?next=%2Fadmin', '/%2F', 'next=%2Fadmin'],
      ['/a/../b', '/a/../b', ''],
      ['/search?q=1&q=2', '/search', 'q=1&q=2'],
      ['/search?', '/search', ''],
      ['/caf%C3%A9?', '/caf%C3%A9', ''],
    ];
    for (const [target, path, query] of cases) {
      it(`keeps ${target} as path ${path} and query ${JSON.stringify(query)}`, () => {
        const attrs = toAttributes(withHttp(HTTP2, { path: target }));
        assert.equal(attrs.path, path);
        assert.equal(attrs.query, query);
      });
    }

    it('falls back to the :path pseudo-header when path is empty', () => {
      const attrs = toAttributes(withHttp(HTTP1, { path: '' }));
      assert.equal(attrs.path, '/products/42');
      assert.equal(attrs.query, 'color=red');
    });

    it('uses the query field when the path carries none', () => {
      const attrs = toAttributes(withHttp(HTTP2, { path: '/p', query: 'a=1' }));
      assert.equal(attrs.path, '/p');
      assert.equal(attrs.query, 'a=1');
    });
  });

  describe('request fields', () => {
    it('falls back to pseudo-headers for host, method and scheme', () => {
      const attrs = toAttributes(withHttp(HTTP1, { host: '', method: '', scheme: '' }));
      assert.equal(attrs.host, 'shop.example.com');
      assert.equal(attrs.method, 'GET');
      assert.equal(attrs.scheme, 'https');
    });

    it('upper-cases the method', () => {
      assert.equal(toAttributes(withHttp(HTTP2, { method: 'post' })).method, 'POST');
    });

    it('falls back to x-forwarded-proto for the scheme', () => {
      const attrs = toAttributes(
        withHttp(GRPC_A92, {
          header_map: { headers: [raw('x-forwarded-proto', 'https')] },
        }),
      );
      assert.equal(attrs.scheme, 'https');
    });

    it('takes requestId from x-request-id, else http.id', () => {
      assert.equal(toAttributes(HTTP1).requestId, '0b4a3c2e-6f1d-4b8e-9a7c-2d5e8f1a3b6c');
      assert.equal(toAttributes(HTTP2).requestId, '42');
    });

    it('treats a request id that is no safe id as absent: it never reaches a header', () => {
      for (const id of ['x;verdict=benign', 'a,b', 'a b', 'é', 'x'.repeat(129)]) {
        const sent = withHttp(HTTP2, { headers: { 'x-request-id': id } });
        assert.equal(toAttributes(sent).requestId, '42', id);
        const noEnvoyId = withHttp(HTTP2, { headers: { 'x-request-id': id }, id: 'a;b' });
        assert.equal(toAttributes(noEnvoyId).requestId, undefined, id);
      }
      const longest = withHttp(HTTP2, { headers: { 'x-request-id': 'x'.repeat(128) } });
      assert.equal(toAttributes(longest).requestId, 'x'.repeat(128));
    });

    it('takes proxyClientIp from x-envoy-external-address', () => {
      assert.equal(toAttributes(HTTP1).proxyClientIp, '203.0.113.7');
      assert.equal(toAttributes(HTTP2).proxyClientIp, undefined);
    });

    it('does not add host for HTTP/1 when the headers already have one', () => {
      const attrs = toAttributes(
        withHttp(HTTP1, {
          headers: { ':authority': 'shop.example.com', accept: '*/*', host: 'shop.example.com' },
        }),
      );
      assert.deepEqual([...attrs.headers.names()], ['accept', 'host']);
    });

    it('adds host for HTTP/1.0 too', () => {
      const attrs = toAttributes(withHttp(HTTP1, { protocol: 'HTTP/1.0' }));
      assert.deepEqual(attrs.headers.entries[0], ['host', 'shop.example.com']);
    });

    it('uses the request time, else now', () => {
      const noTime = toAttributes({
        attributes: { request: { time: { seconds: '0', nanos: 0 } } },
      });
      assert.ok(Math.abs(noTime.receivedAtMs - Date.now()) < 1_000);
      assert.equal(toAttributes(HTTP1).receivedAtMs, TIME_MS);
    });
  });

  describe('context_extensions', () => {
    it('reads cheq_event_type, cheq_mode, cheq_channel, cheq_site and cheq_enforce_percent', () => {
      const attrs = toAttributes(
        withHttp(
          HTTP1,
          {},
          {
            context_extensions: {
              cheq_event_type: 'custom',
              cheq_mode: 'blocking',
              cheq_channel: 'newsletter',
              cheq_site: 'shop',
              cheq_enforce_percent: '25',
              unrelated: 'x',
            },
          },
        ),
      );
      assert.deepEqual(attrs.route, {
        eventType: 'custom',
        mode: 'blocking',
        channel: 'newsletter',
        site: 'shop',
        enforcePercent: '25',
      });
    });

    it('leaves out empty values', () => {
      const attrs = toAttributes(
        withHttp(
          HTTP1,
          {},
          { context_extensions: { cheq_event_type: '', cheq_mode: 'monitoring' } },
        ),
      );
      assert.deepEqual(attrs.route, { mode: 'monitoring' });
    });
  });
});
