// CheckRequests shaped the way Envoy's ext_authz filter sends them (check_request_utils.cc):
// lower-case header map with pseudo-headers, :authority instead of host, path with query.

export interface EnvoyRequestSpec {
  readonly url?: string;
  readonly method?: string;
  /** End-user headers in order; names are lower-cased like Envoy does. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly peer?: string;
  readonly contextExtensions?: Readonly<Record<string, string>>;
  readonly protocol?: string;
  readonly requestId?: string;
}

export const BROWSER_HEADERS: Readonly<Record<string, string>> = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en-US,en;q=0.5',
  'accept-encoding': 'gzip, deflate, br',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
};

export function envoyCheckRequest(spec: EnvoyRequestSpec = {}): Record<string, unknown> {
  const url = new URL(spec.url ?? 'https://shop.example.com/products/7?color=red');
  const method = spec.method ?? 'GET';
  const path = `${url.pathname}${url.search}`;
  const headers: Record<string, string> = {
    ':authority': url.host,
    ':path': path,
    ':method': method,
    ':scheme': url.protocol.slice(0, -1),
  };
  for (const [name, value] of Object.entries(spec.headers ?? BROWSER_HEADERS)) {
    headers[name.toLowerCase()] = value;
  }
  headers['x-forwarded-proto'] = url.protocol.slice(0, -1);
  headers['x-request-id'] = spec.requestId ?? 'req-0001';
  return {
    attributes: {
      source: {
        address: { socket_address: { address: spec.peer ?? '198.51.100.7', port_value: 51234 } },
      },
      destination: { address: { socket_address: { address: '10.0.0.5', port_value: 8443 } } },
      request: {
        time: { seconds: '1764000000', nanos: 250_000_000 },
        http: {
          id: '13371337',
          method,
          headers,
          path,
          host: url.host,
          scheme: url.protocol.slice(0, -1),
          protocol: spec.protocol ?? 'HTTP/1.1',
          size: '0',
        },
      },
      context_extensions: { ...(spec.contextExtensions ?? {}) },
    },
  };
}
