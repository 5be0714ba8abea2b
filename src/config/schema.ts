// Every setting: its doc, format, default, environment variable and command-line flag.
// The README's configuration table is checked against this schema by a test.

export const DEFAULT_IGNORED_HEADER_NAMES = [
  'x-envoy-*',
  'x-request-id',
  'x-forwarded-proto',
  'x-forwarded-client-cert',
  'x-b3-*',
];

export const schema = {
  api_key: {
    doc: 'CHEQ API key (required; or api_key_file). Never logged.',
    format: String,
    default: '',
    env: 'CHEQ_API_KEY',
    arg: 'api-key',
    sensitive: true,
  },
  api_key_file: {
    doc: 'File holding the CHEQ API key, e.g. a mounted Kubernetes Secret.',
    format: String,
    default: '',
    env: 'CHEQ_API_KEY_FILE',
    arg: 'api-key-file',
  },
  tag_hash: {
    doc: 'CHEQ tag hash of the site (required).',
    format: String,
    default: '',
    env: 'CHEQ_TAG_HASH',
    arg: 'tag-hash',
  },
  api_endpoint: {
    doc: 'RTI base URL (required): https://rti-us-east-1.cheqzone.com, https://rti-eu-west-1.cheqzone.com or https://rti-global.cheqzone.com; any other http(s) URL is accepted with a warning.',
    format: 'http-url',
    default: '',
    env: 'CHEQ_API_ENDPOINT',
    arg: 'api-endpoint',
  },
  mode: {
    doc: '`monitoring` calls RTI and records the verdict but never acts; `blocking` acts on it.',
    format: ['monitoring', 'blocking'],
    default: 'monitoring',
    env: 'CHEQ_MODE',
    arg: 'mode',
  },
  timeout_ms: {
    doc: 'RTI time budget per request (connect, headers and body), milliseconds. Past it the request is allowed (fail open).',
    format: 'positive-int',
    default: 100,
    env: 'CHEQ_TIMEOUT_MS',
    arg: 'timeout-ms',
  },
  redirect_url: {
    doc: 'Where blocked page navigations are redirected (302). Empty: deny with 403.',
    format: 'optional-location',
    default: '',
    env: 'CHEQ_REDIRECT_URL',
    arg: 'redirect-url',
  },
  block_redirect_codes: {
    doc: 'Threat type codes that are blocked (redirect or 403).',
    format: 'code-list',
    default: [2, 3, 6, 7, 10, 11, 16, 18],
    env: 'CHEQ_BLOCK_REDIRECT_CODES',
    arg: 'block-redirect-codes',
  },
  challenge_codes: {
    doc: 'Threat type codes that get the challenge action.',
    format: 'code-list',
    default: [4, 5, 13, 14, 15, 17],
    env: 'CHEQ_CHALLENGE_CODES',
    arg: 'challenge-codes',
  },
  challenge_action: {
    doc: '`allow` (the upstream is told to challenge, header <prefix>challenge: 1), `deny` (403) or `redirect` (to challenge_url).',
    format: ['allow', 'deny', 'redirect'],
    default: 'allow',
    env: 'CHEQ_CHALLENGE_ACTION',
    arg: 'challenge-action',
  },
  challenge_url: {
    doc: 'Challenge page for challenge_action `redirect`.',
    format: 'optional-location',
    default: '',
    env: 'CHEQ_CHALLENGE_URL',
    arg: 'challenge-url',
  },
  uri_exclusion: {
    doc: 'Paths allowed without calling RTI (comma list): exact paths or regular expressions matching the whole path (an entry with its own ^ or $ anchor is used as written).',
    format: 'path-patterns',
    default: [] as string[],
    env: 'CHEQ_URI_EXCLUSION',
    arg: 'uri-exclusion',
  },
  route_to_event_type: {
    doc: 'JSON object: path (exact or regular expression, as uri_exclusion) to RTI event type; first match wins; default page_load.',
    format: 'route-map',
    default: '{}',
    env: 'CHEQ_ROUTE_TO_EVENT_TYPE',
    arg: 'route-to-event-type',
  },
  trusted_ip_header: {
    doc: 'Request header holding the end user IP, set by a proxy you trust (e.g. cf-connecting-ip). Empty: x-envoy-external-address (Envoy) or X-Real-IP (NGINX), else the peer address.',
    format: 'header-name',
    default: '',
    env: 'CHEQ_TRUSTED_IP_HEADER',
    arg: 'trusted-ip-header',
  },
  ja3_header: {
    doc: 'Request header in which the proxy passes the TLS (JA3) fingerprint.',
    format: 'header-name',
    default: '',
    env: 'CHEQ_JA3_HEADER',
    arg: 'ja3-header',
  },
  channel_param: {
    doc: 'Query parameter holding the custom event name (event type `custom`).',
    format: String,
    default: '',
    env: 'CHEQ_CHANNEL_PARAM',
    arg: 'channel-param',
  },
  verdict_headers: {
    doc: 'Send the verdict to the upstream in request headers on allow (and strip client-sent ones).',
    format: 'bool',
    default: true,
    env: 'CHEQ_VERDICT_HEADERS',
    arg: 'verdict-headers',
  },
  verdict_header_prefix: {
    doc: 'Prefix of the verdict header names (<prefix>decision, threat-type, invalid, rti-request-id, challenge).',
    format: 'header-name',
    default: 'x-cheq-',
    env: 'CHEQ_VERDICT_HEADER_PREFIX',
    arg: 'verdict-header-prefix',
  },
  ignored_header_names: {
    doc: 'Headers a proxy adds, left out of the HeaderNames sent to RTI (comma list; a trailing * matches a prefix).',
    format: 'string-list',
    default: DEFAULT_IGNORED_HEADER_NAMES,
    env: 'CHEQ_IGNORED_HEADER_NAMES',
    arg: 'ignored-header-names',
  },
  rti_connections: {
    doc: 'Keep-alive connections to RTI, at most.',
    format: 'positive-int',
    default: 64,
    env: 'CHEQ_RTI_CONNECTIONS',
    arg: 'rti-connections',
  },
  deadline_margin_ms: {
    doc: "Milliseconds kept back from the proxy's deadline (gRPC grpc-timeout), so the answer arrives in time.",
    format: 'non-negative-int',
    default: 10,
    env: 'CHEQ_DEADLINE_MARGIN_MS',
    arg: 'deadline-margin-ms',
  },
  host: {
    doc: 'Bind address of every listener.',
    format: String,
    default: '0.0.0.0',
    env: 'HOST',
    arg: 'host',
  },
  grpc_port: {
    doc: 'gRPC listener: Envoy ext_authz Check and grpc.health.v1.',
    format: 'tcp-port',
    default: 9001,
    env: 'GRPC_PORT',
    arg: 'grpc-port',
  },
  http_port: {
    doc: 'HTTP listener: NGINX auth_request (/api/authz/auth-request), Envoy HTTP ext_authz (/api/authz/ext-authz/...), forward auth (/api/authz/forward-auth).',
    format: 'tcp-port',
    default: 8080,
    env: 'HTTP_PORT',
    arg: 'http-port',
  },
  http_keepalive_timeout_ms: {
    doc: "Idle keep-alive connections on the HTTP listener are closed after this, milliseconds. Keep it above the proxies' own idle timeout (NGINX upstream keepalive_timeout, Envoy cluster idle_timeout).",
    format: 'positive-int',
    default: 75_000,
    env: 'HTTP_KEEPALIVE_TIMEOUT_MS',
    arg: 'http-keepalive-timeout-ms',
  },
  metrics_port: {
    doc: 'Metrics and health listener: /metrics, /healthz, /readyz. Keep it cluster-internal.',
    format: 'tcp-port',
    default: 9464,
    env: 'METRICS_PORT',
    arg: 'metrics-port',
  },
  grpc_keepalive_time_ms: {
    doc: 'Interval of gRPC keepalive pings to idle proxies, milliseconds.',
    format: 'positive-int',
    default: 30_000,
    env: 'GRPC_KEEPALIVE_TIME_MS',
    arg: 'grpc-keepalive-time-ms',
  },
  grpc_max_connection_age_ms: {
    doc: 'gRPC connections are closed gracefully after this age (milliseconds), so proxies rebalance onto new replicas.',
    format: 'positive-int',
    default: 300_000,
    env: 'GRPC_MAX_CONNECTION_AGE_MS',
    arg: 'grpc-max-connection-age-ms',
  },
  shutdown_delay_ms: {
    doc: 'On SIGTERM/SIGINT, how long to keep serving while reporting NOT_SERVING/unready before refusing new connections, milliseconds. Set a few seconds behind Kubernetes or a load balancer, so they stop routing here first.',
    format: 'non-negative-int',
    default: 0,
    env: 'SHUTDOWN_DELAY_MS',
    arg: 'shutdown-delay-ms',
  },
  shutdown_grace_ms: {
    doc: 'On SIGTERM/SIGINT, how long in-flight checks may take before the server exits, milliseconds.',
    format: 'positive-int',
    default: 10_000,
    env: 'SHUTDOWN_GRACE_MS',
    arg: 'shutdown-grace-ms',
  },
  log_level: {
    doc: 'fatal, error, warn, info, debug or trace. debug logs every decision.',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
    default: 'info',
    env: 'LOG_LEVEL',
    arg: 'log-level',
  },
};

export type Settings = {
  [K in keyof typeof schema]: (typeof schema)[K]['default'] extends readonly (infer E)[]
    ? E[]
    : (typeof schema)[K]['default'] extends number
      ? number
      : (typeof schema)[K]['default'] extends boolean
        ? boolean
        : string;
};
