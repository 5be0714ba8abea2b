// Builds the runtime configuration (AppConfig, one SiteConfig per site) from settings that are
// already valid: typed values, parsed patterns and rules, and the warnings that do not stop a start.

import { createHash, createHmac } from 'node:crypto';
import type { CoreConfig } from '../core/decide';
import type { ChallengeProviderName } from '../core/decision';
import { BucketKey } from '../core/enforcement';
import { matchesUnderAnyPath, PathMap, PathPatternList } from '../core/path-pattern';
import { broadPublicEntries, TrustedProxies } from '../core/trusted-proxies';
import { resolveStrategies } from '../core/strategy';
import { verdictHeaderNames } from '../core/verdict-headers';
import type { SigningKeys } from '../challenge/signing-keys';
import type { SiteChallengeFiles } from './challenge-config';
import { REDACTED, type AppConfig, type SiteConfig } from './app-config';
import { DEFAULT_IGNORE_PATHS } from './default-ignore-paths';
import { parseRouteMap } from './formats';
import { parsePolicyRules } from './policy-rules';
import type { RedisConfig } from './redis-config';
import type { Settings } from './schema';
import { SITE_SETTINGS } from './setting-lists';
import { DEFAULT_SITE, type SiteEntry } from './sites';
import { grpcTlsConfigOf } from './tls-files';

export const KNOWN_RTI_ENDPOINTS: readonly string[] = [
  'https://rti-us-east-1.cheqzone.com',
  'https://rti-eu-west-1.cheqzone.com',
  'https://rti-global.cheqzone.com',
];

/** Settings shown as REDACTED by check-config (api_key is redacted on its own). */
const SECRET_SETTINGS: readonly string[] = [
  'challenge_secret',
  'challenge_previous_secret',
  'challenge_provider_secret',
  'redis_password',
];

function isSecret(key: string): boolean {
  return SECRET_SETTINGS.includes(key);
}

/** A site's validated settings and API key. */
export interface ResolvedSite {
  readonly entry: SiteEntry;
  readonly settings: Settings;
  readonly apiKey: string;
  readonly challenge: SiteChallengeFiles;
}

/** What the served challenge reads from files: the process's secrets, the top level's files. */
export interface ChallengeFiles {
  readonly secrets: SigningKeys | undefined;
  readonly topLevel: SiteChallengeFiles;
}

/** The decision settings of the top level or of one site. */
function coreConfigOf(
  s: Settings,
  apiKey: string,
  trustedProxies: TrustedProxies,
  secrets: SigningKeys | undefined,
  files: SiteChallengeFiles,
): CoreConfig {
  const redirectUrl = s.redirect_url || undefined;
  const configured = {
    blockStrategy: s.block_strategy as CoreConfig['blockStrategy'] | '',
    challengeStrategy: s.challenge_strategy as CoreConfig['challengeStrategy'] | '',
    challengeAction: s.challenge_action as 'allow' | 'deny' | 'redirect' | '',
    redirectUrl,
  };
  const strategies = resolveStrategies({ ...configured, canChallenge: secrets !== undefined });
  const wanted = resolveStrategies({ ...configured, canChallenge: true });
  return Object.freeze({
    apiVersion: s.api_version as CoreConfig['apiVersion'],
    rules: parsePolicyRules(s.policy_rules),
    mode: s.mode as CoreConfig['mode'],
    enforcePercent: s.enforce_percent,
    enforceKey: enforceKeyOf(apiKey),
    timeoutMs: s.timeout_ms,
    deadlineMarginMs: s.deadline_margin_ms,
    blockRedirectCodes: new Set(s.block_redirect_codes.map(Number)),
    challengeCodes: new Set(s.challenge_codes.map(Number)),
    redirectCodes: new Set(s.redirect_codes.map(Number)),
    blockReasons: new Set(s.block_reasons.map(Number)),
    challengeReasons: new Set(s.challenge_reasons.map(Number)),
    redirectReasons: new Set(s.redirect_reasons.map(Number)),
    redirectUrl,
    blockStrategy: strategies.block,
    challengeStrategy: strategies.challenge,
    challengeUrl: s.challenge_url || undefined,
    uriExclusion: new PathPatternList(s.uri_exclusion),
    ignorePaths: new PathPatternList(s.ignore_paths),
    routeToEventType: new PathMap(Object.entries(parseRouteMap(s.route_to_event_type))),
    trustedIpHeader: s.trusted_ip_header || undefined,
    trustedProxies,
    ja3Header: s.ja3_header || undefined,
    ja4Header: s.ja4_header || undefined,
    channelParam: s.channel_param || undefined,
    ignoredHeaderNames: s.ignored_header_names.map(name => name.toLowerCase()),
    tlsCipherHeader: s.tls_cipher_header.toLowerCase(),
    tlsVersionHeader: s.tls_version_header.toLowerCase(),
    geoRegionHeader: s.geo_region_header.toLowerCase(),
    demoVerdictCookie: s.demo_verdict_cookie,
    debugRtiResult: s.debug_rti_result,
    verdictHeaderNames: s.verdict_headers ? verdictHeaderNames(s.verdict_header_prefix) : undefined,
    blockPage: files.blockPage,
    challengeProvider: s.challenge_provider as ChallengeProviderName,
    challenge: secrets && {
      keys: secrets,
      provider: s.challenge_provider as ChallengeProviderName,
      siteKey: s.challenge_site_key.trim(),
      difficulty: s.challenge_difficulty,
      passTtlS: s.challenge_pass_ttl_s,
      path: s.challenge_path,
      verifyTimeoutMs: s.challenge_verify_timeout_ms,
    },
    challengeUnavailable:
      secrets === undefined && (wanted.challenge === 'challenge' || wanted.block === 'challenge'),
    verdictMemoryTtlMs: s.verdict_memory_ttl_s * 1000,
  });
}

/**
 * The enforce_percent hash key, derived from the API key: secret from clients, the same on every
 * replica without a setting of its own, and new (reshuffling the buckets) when the key rotates.
 */
function enforceKeyOf(apiKey: string): BucketKey {
  return new BucketKey(
    createHmac('sha256', apiKey).update('cheq-rti-authz enforce_percent bucket').digest(),
  );
}

function siteConfigOf(
  name: string,
  hosts: readonly string[],
  s: Settings,
  apiKey: string,
  trustedProxies: TrustedProxies,
  challenge: { readonly secrets: SigningKeys | undefined; readonly files: SiteChallengeFiles },
  warnings: string[],
): SiteConfig {
  const endpoint = new URL(s.api_endpoint);
  if (!KNOWN_RTI_ENDPOINTS.includes(endpoint.origin) || endpoint.pathname !== '/') {
    warnings.push(
      `${name === DEFAULT_SITE ? '' : `site ${name}: `}api_endpoint ${endpoint.origin}${endpoint.pathname} ` +
        `is not a known CHEQ RTI region (${KNOWN_RTI_ENDPOINTS.join(', ')})`,
    );
  }
  // The default ignore list's own entries are anchored to asset directories by construction.
  const ownIgnorePaths = s.ignore_paths.filter(entry => !DEFAULT_IGNORE_PATHS.includes(entry));
  for (const [setting, entries] of [
    ['uri_exclusion', s.uri_exclusion],
    ['ignore_paths', ownIgnorePaths],
  ] as const) {
    for (const entry of entries.filter(matchesUnderAnyPath)) {
      warnings.push(
        `${name === DEFAULT_SITE ? '' : `site ${name}: `}${setting} entry ${JSON.stringify(entry)} ` +
          'matches below any path: a client can exclude a protected path by appending e.g. /x.css ' +
          '(backends that ignore trailing path parts serve the protected page); anchor it to a ' +
          'directory (^/static/, /assets/**/*.css)',
      );
    }
  }
  const effective: Record<string, unknown> = {};
  for (const key of SITE_SETTINGS) effective[key] = s[key];
  for (const key of SECRET_SETTINGS) {
    if (key in effective) effective[key] = effective[key] === '' ? '' : REDACTED;
  }
  effective['api_key'] = apiKey === '' ? '' : REDACTED;
  const core = coreConfigOf(s, apiKey, trustedProxies, challenge.secrets, challenge.files);
  return Object.freeze({
    name,
    hosts: Object.freeze([...hosts]),
    core,
    endpoint,
    apiKey,
    tagHash: s.tag_hash.trim(),
    siteverify:
      core.challenge && core.challenge.provider !== 'browser'
        ? Object.freeze({
            secret: challenge.files.providerSecret,
            siteKey: core.challenge.siteKey,
            verifyUrl: s.challenge_verify_url ? new URL(s.challenge_verify_url) : undefined,
            minScore: s.challenge_min_score,
            timeoutMs: s.challenge_verify_timeout_ms,
          })
        : undefined,
    effective: Object.freeze(effective),
  });
}

/**
 * The one line said at start and by check-config when a strategy asks for the served challenge
 * but no challenge_secret is set (CHEQ's integrations do the same); undefined otherwise.
 */
function challengeFallbackOf(sites: readonly SiteConfig[]): string | undefined {
  const names = sites.filter(site => site.core.challengeUnavailable).map(site => site.name);
  if (names.length === 0) return undefined;
  return (
    `no challenge_secret is set, so no challenge is served (${names.join(', ')}): challenged ` +
    'requests are allowed with the upstream header <prefix>challenge: 1, and block_strategy ' +
    'challenge is access_denied'
  );
}

/** Builds the typed configuration from settings already validated. */
export function buildAppConfig(
  s: Settings,
  apiKey: string,
  servesTopLevel: boolean,
  sites: readonly ResolvedSite[],
  configFile: string | undefined,
  /** Warnings from reading the sources (old names and places still read). */
  sourceWarnings: readonly string[],
  challenge: ChallengeFiles,
  redis: RedisConfig | undefined,
): AppConfig {
  const warnings: string[] = [...sourceWarnings];
  const topLevel = { secrets: challenge.secrets, files: challenge.topLevel };
  const trustedProxies = TrustedProxies.parse(s.trusted_proxies);
  for (const entry of broadPublicEntries(s.trusted_proxies)) {
    warnings.push(
      `trusted_proxies entry ${JSON.stringify(entry)} trusts a broad range of public addresses: ` +
        "a client there picks its own IP with X-Forwarded-For; list your proxies' own ranges",
    );
  }
  const defaultSite = servesTopLevel
    ? siteConfigOf(DEFAULT_SITE, [], s, apiKey, trustedProxies, topLevel, warnings)
    : undefined;
  const siteConfigs = sites.map(site =>
    siteConfigOf(
      site.entry.name,
      site.entry.hosts,
      site.settings,
      site.apiKey,
      trustedProxies,
      { secrets: challenge.secrets, files: site.challenge },
      warnings,
    ),
  );
  const core =
    defaultSite?.core ??
    coreConfigOf(s, apiKey, trustedProxies, challenge.secrets, challenge.topLevel);
  const files = [
    ...(configFile === undefined ? [] : [configFile]),
    ...new Set(
      [s, ...sites.map(site => site.settings)].map(x => x.api_key_file).filter(file => file !== ''),
    ),
  ];
  // Over the resolved settings in schema order, not the file's text: an equivalent file written
  // in another order is the same configuration.
  const withoutSites = (settings: Settings): Record<string, unknown> =>
    Object.fromEntries(Object.entries(settings).filter(([key]) => key !== 'sites'));
  const hash = createHash('sha256')
    .update(
      JSON.stringify({
        settings: withoutSites(s),
        apiKey,
        sites: sites.map(site => ({
          name: site.entry.name,
          hosts: [...site.entry.hosts].sort(),
          settings: withoutSites(site.settings),
          apiKey: site.apiKey,
        })),
      }),
    )
    .digest('hex')
    .slice(0, 12);
  return Object.freeze({
    core,
    sites: Object.freeze(siteConfigs),
    defaultSite,
    files: Object.freeze(files),
    hash,
    effective: Object.freeze(
      Object.fromEntries(
        Object.entries(s)
          .filter(([key]) => key !== 'sites' && !(SITE_SETTINGS as readonly string[]).includes(key))
          .map(([key, value]) => [key, isSecret(key) && value !== '' ? REDACTED : value]),
      ),
    ),
    rti: Object.freeze({
      endpoint: new URL(s.api_endpoint),
      apiKey,
      tagHash: s.tag_hash.trim(),
      connections: s.rti_connections,
      preconnect: s.rti_preconnect,
      maxInFlight: s.rti_max_in_flight,
      circuit: s.rti_circuit_breaker
        ? {
            failureRatio: s.rti_circuit_failure_ratio,
            windowMs: s.rti_circuit_window_ms,
            minCalls: s.rti_circuit_min_calls,
            openMs: s.rti_circuit_open_ms,
            probes: s.rti_circuit_probes,
          }
        : undefined,
    }),
    server: Object.freeze({
      host: s.host,
      grpcPort: s.grpc_port,
      httpPort: s.http_port,
      httpKeepAliveTimeoutMs: s.http_keepalive_timeout_ms,
      httpHeadersTimeoutMs: s.http_headers_timeout_ms,
      metricsPort: s.metrics_port,
      warmupChecks: s.warmup_checks,
      grpcKeepaliveTimeMs: s.grpc_keepalive_time_ms,
      grpcMaxConnectionAgeMs: s.grpc_max_connection_age_ms,
      grpcMaxConcurrentStreams: s.grpc_max_concurrent_streams,
      maxConnections: s.max_connections,
      grpcTls: grpcTlsConfigOf(s),
      workers: s.workers,
      overloadShedding: s.overload_shedding,
      shutdownDelayMs: s.shutdown_delay_ms,
      shutdownGraceMs: s.shutdown_grace_ms,
    }),
    verdictMemory: Object.freeze({ maxEntries: s.verdict_memory_max_entries }),
    redis,
    logLevel: s.log_level,
    warnings: Object.freeze(warnings),
    challengeFallback: challengeFallbackOf([...(defaultSite ? [defaultSite] : []), ...siteConfigs]),
  });
}
