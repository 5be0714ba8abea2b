// Every setting, described once: its doc, format, default, scope, when a change applies, its
// environment variable (and old name) and command-line flag. Every list of settings elsewhere
// (site settings, restart-only ones, the configuration reference) and convict's schema
// (convict-settings) are derived from this one.

import { DEFAULT_TRUSTED_PROXIES } from '../core/trusted-proxies';

export const DEFAULT_IGNORED_HEADER_NAMES = [
  'x-envoy-*',
  'x-request-id',
  'x-forwarded-proto',
  'x-forwarded-client-cert',
  'x-b3-*',
];

/**
 * An environment variable CHEQ's own integrations use for a setting (rti-api.md §5.1), so that
 * their users' configuration carries over; our own name wins when both are set.
 */
export interface CheqAlias {
  readonly env: `CHEQ_${string}`;
  /** CHEQ's values (matched case-insensitively, by their upper case) and ours they stand for. */
  readonly values?: Readonly<Record<string, string>>;
}

/** How one setting is read, checked and applied. */
export interface SettingSpec {
  readonly doc: string;
  /** `process`: one value for the process; `site`: a site in `sites` may set its own. */
  readonly scope: 'process' | 'site';
  /** `live`: a reload applies a change; `restart`: a reload that changes it is refused. */
  readonly applies: 'live' | 'restart';
  /**
   * The setting that switches this one's feature on (a true flag, a file name): while it is off
   * before and after a reload, a change of this one is unused, and no restart is asked for.
   */
  readonly while?: string;
  /** A format name (formats.ts), the allowed values, or String: any text. */
  readonly format: string | readonly string[] | StringConstructor;
  readonly default: unknown;
  /** `CHEQ_` and the file key in upper case. */
  readonly env: `CHEQ_${string}`;
  /** The variable read before the CHEQ_ prefix was everywhere: still read, with a warning. */
  readonly legacyEnv?: string;
  /** CHEQ's standard name of the setting across its integrations: read without a warning. */
  readonly cheqAlias?: CheqAlias;
  /**
   * The command-line flag without `--`; none for secrets (ps shows flags) and advanced settings
   * (whose flags from before #21 are still read, with a warning: setting-lists' flagOf).
   */
  readonly arg?: string;
  /** A tuning knob: under `advanced:` in the config file, no own flag, its own reference table. */
  readonly advanced?: true;
  /** A list or object in the config file, JSON text in the environment and on the command line. */
  readonly structured?: true;
  /** Never echoed in messages: the value is, or may carry, a secret. */
  readonly sensitive?: true;
}

export const schema = {
  api_key: {
    doc: 'CHEQ API key (required; or api_key_file). Never logged.',
    scope: 'site',
    applies: 'live',
    format: String,
    default: '',
    env: 'CHEQ_API_KEY',
    // No flag: ps would show the key to every user of the host.
    sensitive: true,
  },
  api_key_file: {
    doc: 'File holding the CHEQ API key, e.g. a mounted Kubernetes Secret.',
    scope: 'site',
    applies: 'live',
    format: String,
    default: '',
    env: 'CHEQ_API_KEY_FILE',
    arg: 'api-key-file',
  },
  tag_hash: {
    doc: 'CHEQ tag hash of the site (required).',
    scope: 'site',
    applies: 'live',
    format: String,
    default: '',
    env: 'CHEQ_TAG_HASH',
    arg: 'tag-hash',
  },
  api_endpoint: {
    doc: 'RTI base URL (required): https://rti-us-east-1.cheqzone.com, https://rti-eu-west-1.cheqzone.com or https://rti-global.cheqzone.com; any other http(s) URL is accepted with a warning, except http:// to a cheqzone.com host. No user info, query or fragment.',
    scope: 'site',
    applies: 'live',
    format: 'rti-endpoint',
    default: '',
    env: 'CHEQ_API_ENDPOINT',
    arg: 'api-endpoint',
    // Not echoed in error messages: a URL can carry credentials.
    sensitive: true,
  },
  sites: {
    doc: 'Many sites in one deployment: a list (config file; JSON in the environment) of { name, hosts: [host or *.suffix], ...settings }, matched by context_extensions cheq_site, else by host. A site may set api_key(_file), tag_hash, api_endpoint, api_version, mode, enforce_percent, timeout_ms, redirect and challenge settings, codes, reasons, policy_rules, uri_exclusion, route_to_event_type, channel_param; the rest it inherits. With sites, tag_hash may be left empty: requests no site matches are then allowed without calling RTI.',
    scope: 'process',
    applies: 'live',
    format: String,
    default: '[]',
    env: 'CHEQ_SITES',
    arg: 'sites',
    structured: true,
  },
  api_version: {
    doc: "RTI API generation: `v1` (form POST to /v1/realtime-interception) or `v4` (JSON POST to /defend/4.0/traffic, CHEQ's current one).",
    scope: 'site',
    applies: 'live',
    format: ['v1', 'v4'],
    default: 'v1',
    env: 'CHEQ_API_VERSION',
    arg: 'api-version',
  },
  mode: {
    doc: '`monitoring` calls RTI and records the verdict but never acts; `blocking` acts on it.',
    scope: 'site',
    applies: 'live',
    format: ['monitoring', 'blocking'],
    default: 'monitoring',
    env: 'CHEQ_MODE',
    arg: 'mode',
  },
  enforce_percent: {
    doc: 'Blocking mode only: the share (0-100) of would-block visitors acted on, chosen stably per client IP (IPv6 per /64) with a hash keyed by the API key, so a client cannot pick its bucket; a request without a client IP is acted on. The rest are allowed and counted as would. A route can set its own with context_extensions cheq_enforce_percent.',
    scope: 'site',
    applies: 'live',
    format: 'percent',
    default: 100,
    env: 'CHEQ_ENFORCE_PERCENT',
    arg: 'enforce-percent',
  },
  timeout_ms: {
    doc: 'RTI time budget per request (connect, headers and body), milliseconds. Past it the request is allowed (fail open).',
    scope: 'site',
    applies: 'live',
    format: 'positive-int',
    default: 100,
    env: 'CHEQ_TIMEOUT_MS',
    arg: 'timeout-ms',
  },
  redirect_url: {
    doc: 'Where blocked and redirected page navigations go (302): an absolute http(s) URL, or a path starting with / (not //, /\\, /%2F or /%5C). Empty: deny with 403.',
    scope: 'site',
    applies: 'live',
    format: 'optional-location',
    default: '',
    env: 'CHEQ_REDIRECT_URL',
    arg: 'redirect-url',
    // Not echoed in error messages: a URL can carry credentials.
    sensitive: true,
  },
  block_strategy: {
    doc: 'What a block action does: `access_denied` (403; browsers get the block page), `not_found` (a plain 404), `redirect` (302 to redirect_url for page navigations; others get the 403) or `challenge` (the served challenge). Empty: `redirect` when redirect_url is set, else `access_denied`.',
    scope: 'site',
    applies: 'live',
    format: ['', 'access_denied', 'not_found', 'redirect', 'challenge'],
    default: '',
    env: 'CHEQ_BLOCK_STRATEGY',
    arg: 'block-strategy',
    cheqAlias: {
      env: 'CHEQ_BLOCKING_STRATEGY',
      values: {
        ACCESS_DENIED: 'access_denied',
        NOT_FOUND: 'not_found',
        REDIRECT: 'redirect',
        CAPTCHA: 'challenge',
      },
    },
  },
  block_redirect_codes: {
    doc: 'Threat type codes that get the block action (v4 also blocks verdict `malicious`). A code may be in one of block_redirect_codes, challenge_codes and redirect_codes only.',
    scope: 'site',
    applies: 'live',
    format: 'code-list',
    default: [2, 3, 6, 7, 10, 11, 16, 18],
    env: 'CHEQ_BLOCK_REDIRECT_CODES',
    arg: 'block-redirect-codes',
    cheqAlias: { env: 'CHEQ_THREAT_CODES_BLOCK' },
  },
  challenge_codes: {
    doc: 'Threat type codes that get the challenge action (v4 also challenges verdict `suspicious`).',
    scope: 'site',
    applies: 'live',
    format: 'code-list',
    default: [4, 5, 13, 14, 15, 17],
    env: 'CHEQ_CHALLENGE_CODES',
    arg: 'challenge-codes',
    cheqAlias: { env: 'CHEQ_THREAT_CODES_CAPTCHA' },
  },
  redirect_codes: {
    doc: 'Threat type codes that get the redirect action: 302 to redirect_url for page navigations, else 403.',
    scope: 'site',
    applies: 'live',
    format: 'code-list',
    default: [] as number[],
    env: 'CHEQ_REDIRECT_CODES',
    arg: 'redirect-codes',
    cheqAlias: { env: 'CHEQ_THREAT_CODES_REDIRECT' },
  },
  block_reasons: {
    doc: "RTI detection reason codes (v4 cheqDetection.reasons; v1 answers have none) that get the block action when any of them is among the verdict's. Block wins over challenge and redirect.",
    scope: 'site',
    applies: 'live',
    format: 'code-list',
    default: [] as number[],
    env: 'CHEQ_BLOCK_REASONS',
    arg: 'block-reasons',
    cheqAlias: { env: 'CHEQ_REASONS_BLOCK' },
  },
  challenge_reasons: {
    doc: 'Detection reason codes that get the challenge action (as block_reasons). Challenge wins over redirect.',
    scope: 'site',
    applies: 'live',
    format: 'code-list',
    default: [] as number[],
    env: 'CHEQ_CHALLENGE_REASONS',
    arg: 'challenge-reasons',
    cheqAlias: { env: 'CHEQ_REASONS_CAPTCHA' },
  },
  redirect_reasons: {
    doc: 'Detection reason codes that get the redirect action (as block_reasons).',
    scope: 'site',
    applies: 'live',
    format: 'code-list',
    default: [] as number[],
    env: 'CHEQ_REDIRECT_REASONS',
    arg: 'redirect-reasons',
    cheqAlias: { env: 'CHEQ_REASONS_REDIRECT' },
  },
  challenge_action: {
    doc: '`allow` (the upstream is told to challenge, header <prefix>challenge: 1), `deny` (403) or `redirect` (to challenge_url).',
    scope: 'site',
    applies: 'live',
    format: ['allow', 'deny', 'redirect'],
    default: 'allow',
    env: 'CHEQ_CHALLENGE_ACTION',
    arg: 'challenge-action',
  },
  challenge_url: {
    doc: 'Challenge page for challenge_action `redirect` (the same forms as redirect_url).',
    scope: 'site',
    applies: 'live',
    format: 'optional-location',
    default: '',
    env: 'CHEQ_CHALLENGE_URL',
    arg: 'challenge-url',
    // Not echoed in error messages: a URL can carry credentials.
    sensitive: true,
  },
  policy_rules: {
    doc: 'Ordered rules tried before the defaults, first match acts: a list (JSON in the environment) of { name?, when: { verdict?, codes?, reasons?, min_risk_score? }, action: allow | block | challenge | redirect }.',
    scope: 'site',
    applies: 'live',
    format: 'policy-rules',
    default: '[]',
    env: 'CHEQ_POLICY_RULES',
    arg: 'policy-rules',
    structured: true,
  },
  uri_exclusion: {
    doc: 'Paths allowed without calling RTI (comma list), matched on the canonical path; an ambiguous path is never excluded. Entries: exact path (/robots.txt), prefix (^/static/), glob (/assets/**/*.css: * within a segment, ** across segments) or RE2 regular expression matching the whole path unless it has its own ^ or $ (no lookaround or backreferences; at most 200 RE2 instructions; paths over 2 KiB match none). Refused: an entry excluding every path, or with dot segments or //.',
    scope: 'site',
    applies: 'live',
    format: 'path-patterns',
    default: [] as string[],
    env: 'CHEQ_URI_EXCLUSION',
    arg: 'uri-exclusion',
  },
  route_to_event_type: {
    doc: 'JSON object: path pattern (as uri_exclusion) to RTI event type, matched on the canonical path (an ambiguous path: its most resolved reading an entry matches, e.g. without ; parameters; each reading also without a trailing slash and lower-cased); first match wins; default page_load.',
    scope: 'site',
    applies: 'live',
    format: 'route-map',
    default: '{}',
    env: 'CHEQ_ROUTE_TO_EVENT_TYPE',
    arg: 'route-to-event-type',
    structured: true,
  },
  trusted_proxies: {
    doc: "Proxies in front of the calling one whose word about the client address is believed (comma list of IPv4/IPv6 addresses and CIDR ranges; empty or `none`: nobody). The walk starts at the calling proxy's own peer as it reports it (NGINX X-Real-IP; Envoy HTTP x-real-ip; forward auth the last X-Forwarded-For entry; gRPC source.address); while a hop is listed, its report of the next (Envoy's x-envoy-external-address, then X-Forwarded-For from the right) is followed; the first unlisted address is the client.",
    scope: 'process',
    applies: 'live',
    format: 'ip-ranges',
    default: [...DEFAULT_TRUSTED_PROXIES],
    env: 'CHEQ_TRUSTED_PROXIES',
    arg: 'trusted-proxies',
  },
  trusted_ip_header: {
    doc: "Request header holding the end user IP, set by a proxy you trust (e.g. cf-connecting-ip); believed only when every hop the walk reads, from the calling proxy's peer on, is in trusted_proxies (a client that went around the CDN ends the walk with its own address). Empty: the trusted_proxies walk alone.",
    scope: 'process',
    applies: 'live',
    format: 'header-name',
    default: '',
    env: 'CHEQ_TRUSTED_IP_HEADER',
    arg: 'trusted-ip-header',
  },
  ja3_header: {
    doc: 'Request header in which the proxy passes the TLS (JA3) fingerprint.',
    scope: 'process',
    applies: 'live',
    format: 'header-name',
    default: '',
    env: 'CHEQ_JA3_HEADER',
    arg: 'ja3-header',
  },
  ja4_header: {
    doc: 'Request header in which the proxy passes the TLS (JA4) fingerprint (sent to v4 only).',
    scope: 'process',
    applies: 'live',
    format: 'header-name',
    default: '',
    env: 'CHEQ_JA4_HEADER',
    arg: 'ja4-header',
  },
  channel_param: {
    doc: 'Query parameter holding the custom event name (event type `custom`).',
    scope: 'site',
    applies: 'live',
    format: String,
    default: '',
    env: 'CHEQ_CHANNEL_PARAM',
    arg: 'channel-param',
  },
  verdict_headers: {
    doc: 'Send the verdict to the upstream in request headers on allow (and strip client-sent ones).',
    scope: 'process',
    applies: 'live',
    format: 'bool',
    default: true,
    env: 'CHEQ_VERDICT_HEADERS',
    arg: 'verdict-headers',
  },
  verdict_header_prefix: {
    doc: 'Prefix of the verdict header names (<prefix>decision, threat-type, invalid, rti-request-id, challenge).',
    scope: 'process',
    applies: 'live',
    format: 'header-name',
    default: 'x-cheq-',
    env: 'CHEQ_VERDICT_HEADER_PREFIX',
    arg: 'verdict-header-prefix',
  },
  ignored_header_names: {
    doc: 'Headers a proxy adds, left out of the HeaderNames sent to RTI (comma list; a trailing * matches a prefix).',
    scope: 'process',
    applies: 'live',
    format: 'string-list',
    default: DEFAULT_IGNORED_HEADER_NAMES,
    env: 'CHEQ_IGNORED_HEADER_NAMES',
    arg: 'ignored-header-names',
  },
  rti_connections: {
    doc: 'Keep-alive connections to RTI, at most (opened as needed); with overload_shedding, also the RTI calls in flight at most.',
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 256,
    env: 'CHEQ_RTI_CONNECTIONS',
    advanced: true,
  },
  rti_preconnect: {
    doc: 'Connections to RTI (TCP and TLS, no request) opened at start, before reporting ready, so the first checks do not pay for handshakes; at most rti_connections. 0: none.',
    scope: 'process',
    applies: 'restart',
    format: 'non-negative-int',
    default: 4,
    env: 'CHEQ_RTI_PRECONNECT',
    advanced: true,
  },
  rti_max_in_flight: {
    doc: 'RTI calls in flight, at most; past it checks fail open at once, so a slow RTI cannot pile up memory.',
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 1000,
    env: 'CHEQ_RTI_MAX_IN_FLIGHT',
    advanced: true,
  },
  rti_circuit_breaker: {
    doc: 'Stop calling RTI while it keeps failing: checks fail open at once; after rti_circuit_open_ms, rti_circuit_probes calls test it. Timeouts during which this process lagged do not count.',
    scope: 'process',
    applies: 'restart',
    format: 'bool',
    default: true,
    env: 'CHEQ_RTI_CIRCUIT_BREAKER',
    advanced: true,
  },
  rti_circuit_failure_ratio: {
    doc: 'Share of failed calls (connection errors, HTTP errors other than 400, 413, 414, 422 and 431, which refuse one request, bad answers, timeouts while this process was responsive) within rti_circuit_window_ms that opens the circuit.',
    scope: 'process',
    applies: 'restart',
    while: 'rti_circuit_breaker',
    format: 'ratio',
    default: 0.5,
    env: 'CHEQ_RTI_CIRCUIT_FAILURE_RATIO',
    advanced: true,
  },
  rti_circuit_window_ms: {
    doc: 'Time window the circuit breaker judges RTI over, milliseconds (in 10 slices).',
    scope: 'process',
    applies: 'restart',
    while: 'rti_circuit_breaker',
    format: 'positive-int',
    default: 2000,
    env: 'CHEQ_RTI_CIRCUIT_WINDOW_MS',
    advanced: true,
  },
  rti_circuit_min_calls: {
    doc: 'RTI calls the window must hold before the circuit can open.',
    scope: 'process',
    applies: 'restart',
    while: 'rti_circuit_breaker',
    format: 'positive-int',
    default: 20,
    env: 'CHEQ_RTI_CIRCUIT_MIN_CALLS',
    advanced: true,
  },
  rti_circuit_open_ms: {
    doc: 'How long the circuit stays open before probe calls are let through, milliseconds.',
    scope: 'process',
    applies: 'restart',
    while: 'rti_circuit_breaker',
    format: 'positive-int',
    default: 5000,
    env: 'CHEQ_RTI_CIRCUIT_OPEN_MS',
    advanced: true,
  },
  rti_circuit_probes: {
    doc: 'Probe calls let through when the circuit is half-open; it closes once that many succeeded, and opens again on any failure.',
    scope: 'process',
    applies: 'restart',
    while: 'rti_circuit_breaker',
    format: 'positive-int',
    default: 5,
    env: 'CHEQ_RTI_CIRCUIT_PROBES',
    advanced: true,
  },
  overload_shedding: {
    doc: 'At most rti_connections RTI calls in flight; checks past that wait in line while they can still get a verdict in time, the rest fail open at once (cause overloaded). Off: calls queue in the RTI pool.',
    scope: 'process',
    applies: 'restart',
    format: 'bool',
    default: true,
    env: 'CHEQ_OVERLOAD_SHEDDING',
    advanced: true,
  },
  deadline_margin_ms: {
    doc: "Milliseconds kept back from the proxy's deadline (gRPC grpc-timeout), so the answer arrives in time.",
    scope: 'process',
    applies: 'live',
    format: 'non-negative-int',
    default: 10,
    env: 'CHEQ_DEADLINE_MARGIN_MS',
    advanced: true,
  },
  host: {
    doc: 'Bind address of every listener.',
    scope: 'process',
    applies: 'restart',
    format: String,
    default: '0.0.0.0',
    env: 'CHEQ_HOST',
    legacyEnv: 'HOST',
    arg: 'host',
  },
  grpc_port: {
    doc: 'gRPC listener: Envoy ext_authz Check and grpc.health.v1.',
    scope: 'process',
    applies: 'restart',
    format: 'tcp-port',
    default: 9001,
    env: 'CHEQ_GRPC_PORT',
    legacyEnv: 'GRPC_PORT',
    arg: 'grpc-port',
  },
  http_port: {
    doc: 'HTTP listener: NGINX auth_request (/api/authz/auth-request), Envoy HTTP ext_authz (/api/authz/ext-authz/...), forward auth (/api/authz/forward-auth).',
    scope: 'process',
    applies: 'restart',
    format: 'tcp-port',
    default: 8080,
    env: 'CHEQ_HTTP_PORT',
    legacyEnv: 'HTTP_PORT',
    arg: 'http-port',
  },
  http_keepalive_timeout_ms: {
    doc: "Idle keep-alive connections on the HTTP listener are closed after this, milliseconds. Keep it above the proxies' own idle timeout (NGINX upstream keepalive_timeout, Envoy cluster idle_timeout).",
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 75_000,
    env: 'CHEQ_HTTP_KEEPALIVE_TIMEOUT_MS',
    legacyEnv: 'HTTP_KEEPALIVE_TIMEOUT_MS',
    advanced: true,
  },
  http_headers_timeout_ms: {
    doc: "A client must send complete request headers within this (milliseconds, counted from the connection's opening for its first request), or the HTTP listener closes the connection unanswered (slow-header attacks, idle sockets). A plaintext gRPC connection must send its HTTP/2 preface within it too. Idle keep-alive connections are not affected.",
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 10_000,
    env: 'CHEQ_HTTP_HEADERS_TIMEOUT_MS',
    legacyEnv: 'HTTP_HEADERS_TIMEOUT_MS',
    advanced: true,
  },
  metrics_port: {
    doc: 'Metrics and health listener: /metrics, /healthz, /readyz. Keep it cluster-internal.',
    scope: 'process',
    applies: 'restart',
    format: 'tcp-port',
    default: 9464,
    env: 'CHEQ_METRICS_PORT',
    legacyEnv: 'METRICS_PORT',
    arg: 'metrics-port',
  },
  grpc_keepalive_time_ms: {
    doc: 'Interval of gRPC keepalive pings to idle proxies, milliseconds.',
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 30_000,
    env: 'CHEQ_GRPC_KEEPALIVE_TIME_MS',
    legacyEnv: 'GRPC_KEEPALIVE_TIME_MS',
    advanced: true,
  },
  grpc_max_connection_age_ms: {
    doc: 'gRPC connections are closed gracefully after this age (milliseconds), so proxies rebalance onto new replicas.',
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 300_000,
    env: 'CHEQ_GRPC_MAX_CONNECTION_AGE_MS',
    legacyEnv: 'GRPC_MAX_CONNECTION_AGE_MS',
    advanced: true,
  },
  grpc_max_concurrent_streams: {
    doc: 'Checks one proxy connection may have in flight at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). More wait in the proxy instead of here, so an overloaded replica keeps answering the checks it took from RTI verdicts; Envoy opens another connection at the limit, up to its cluster circuit breakers.',
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 32,
    env: 'CHEQ_GRPC_MAX_CONCURRENT_STREAMS',
    legacyEnv: 'GRPC_MAX_CONCURRENT_STREAMS',
    advanced: true,
  },
  max_connections: {
    doc: 'Connections the gRPC listener and the HTTP listener each keep open at once, per process (per worker); a connection past it is closed as it arrives and counted in cheq_authz_rejected_requests_total{reason="too_many_connections"}. Far above what proxies open (NGINX keeps 32 idle per worker; Envoy a few per worker thread).',
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 4096,
    env: 'CHEQ_MAX_CONNECTIONS',
    advanced: true,
  },
  grpc_tls_cert_file: {
    doc: 'PEM certificate (chain) of the gRPC listener. Set with grpc_tls_key_file to serve TLS; empty: plaintext.',
    scope: 'process',
    applies: 'restart',
    format: String,
    default: '',
    env: 'CHEQ_GRPC_TLS_CERT_FILE',
    legacyEnv: 'GRPC_TLS_CERT_FILE',
    arg: 'grpc-tls-cert-file',
  },
  grpc_tls_key_file: {
    doc: 'PEM private key of grpc_tls_cert_file, unencrypted. Its contents are never logged.',
    scope: 'process',
    applies: 'restart',
    while: 'grpc_tls_cert_file',
    format: String,
    default: '',
    env: 'CHEQ_GRPC_TLS_KEY_FILE',
    legacyEnv: 'GRPC_TLS_KEY_FILE',
    arg: 'grpc-tls-key-file',
  },
  grpc_tls_client_ca_file: {
    doc: 'PEM CA certificate(s) for mTLS: when set, gRPC clients must present a certificate signed by one of them. Needs grpc_tls_cert_file.',
    scope: 'process',
    applies: 'restart',
    while: 'grpc_tls_cert_file',
    format: String,
    default: '',
    env: 'CHEQ_GRPC_TLS_CLIENT_CA_FILE',
    legacyEnv: 'GRPC_TLS_CLIENT_CA_FILE',
    arg: 'grpc-tls-client-ca-file',
  },
  grpc_tls_reload_interval_ms: {
    doc: 'How often the TLS files are re-read, milliseconds. Changed, valid files serve new connections from then on; invalid ones are logged and the previous certificate kept.',
    scope: 'process',
    applies: 'restart',
    while: 'grpc_tls_cert_file',
    format: 'positive-int',
    default: 60_000,
    env: 'CHEQ_GRPC_TLS_RELOAD_INTERVAL_MS',
    legacyEnv: 'GRPC_TLS_RELOAD_INTERVAL_MS',
    advanced: true,
  },
  workers: {
    doc: 'Processes serving checks (node cluster), sharing the gRPC and HTTP ports; `auto` is one per available CPU. /metrics (one port, the primary process) sums them.',
    scope: 'process',
    applies: 'restart',
    format: 'worker-count',
    default: 1,
    env: 'CHEQ_WORKERS',
    legacyEnv: 'WORKERS',
    arg: 'workers',
  },
  warmup_checks: {
    doc: 'Checks run at start, before reporting ready, through both listeners and the decision core against an in-process RTI emulator (never the configured RTI), so the first real checks run optimized code. 0: ready at once.',
    scope: 'process',
    applies: 'restart',
    format: 'non-negative-int',
    default: 1000,
    env: 'CHEQ_WARMUP_CHECKS',
    advanced: true,
  },
  shutdown_delay_ms: {
    doc: 'On SIGTERM/SIGINT, how long to keep serving while reporting NOT_SERVING/unready before refusing new connections, milliseconds. Set a few seconds behind Kubernetes or a load balancer, so they stop routing here first.',
    scope: 'process',
    applies: 'restart',
    format: 'non-negative-int',
    default: 0,
    env: 'CHEQ_SHUTDOWN_DELAY_MS',
    legacyEnv: 'SHUTDOWN_DELAY_MS',
    arg: 'shutdown-delay-ms',
  },
  shutdown_grace_ms: {
    doc: 'On SIGTERM/SIGINT, how long in-flight checks may take before the server exits, milliseconds.',
    scope: 'process',
    applies: 'restart',
    format: 'positive-int',
    default: 10_000,
    env: 'CHEQ_SHUTDOWN_GRACE_MS',
    legacyEnv: 'SHUTDOWN_GRACE_MS',
    arg: 'shutdown-grace-ms',
  },
  log_level: {
    doc: 'fatal, error, warn, info, debug or trace. debug logs every decision.',
    scope: 'process',
    applies: 'restart',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
    default: 'info',
    env: 'CHEQ_LOG_LEVEL',
    legacyEnv: 'LOG_LEVEL',
    arg: 'log-level',
  },
} satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof schema;

export type Settings = {
  [K in keyof typeof schema]: (typeof schema)[K]['default'] extends readonly (infer E)[]
    ? E[]
    : (typeof schema)[K]['default'] extends number
      ? number
      : (typeof schema)[K]['default'] extends boolean
        ? boolean
        : string;
};
