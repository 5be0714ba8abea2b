// Reads the configuration once: defaults < config file < environment < command-line flags.
// Validates every setting, reports every problem at once, returns a frozen AppConfig.

import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import convict from 'convict';
import { parse as parseYaml, YAMLError } from 'yaml';
import type { CoreConfig } from '../core/decide';
import { BucketKey } from '../core/enforcement';
import { matchesUnderAnyPath, PathMap, PathPatternList } from '../core/path-pattern';
import { broadPublicEntries, TrustedProxies } from '../core/trusted-proxies';
import { verdictHeaderNames } from '../core/verdict-headers';
import { FORMATS, parseRouteMap } from './formats';
import { parsePolicyRules } from './policy-rules';
import {
  convictProblems,
  DEFAULT_SITE,
  readSites,
  resolveSiteSettings,
  SITE_SETTINGS,
  type SiteEntry,
} from './sites';
import { schema, type Settings } from './schema';
import { grpcTlsConfigOf, grpcTlsProblems, type GrpcTlsConfig } from './tls-files';
import { unknownSettingProblems } from './unknown-settings';

export const KNOWN_RTI_ENDPOINTS: readonly string[] = [
  'https://rti-us-east-1.cheqzone.com',
  'https://rti-eu-west-1.cheqzone.com',
  'https://rti-global.cheqzone.com',
];

export type LogLevel = Settings['log_level'];

export interface CircuitSettings {
  readonly failureRatio: number;
  readonly windowMs: number;
  readonly minCalls: number;
  readonly openMs: number;
  readonly probes: number;
}

/** One site's CHEQ settings, resolved: its own over the top level's. */
export interface SiteConfig {
  /** A metric label: a configured site's name, or `default` for the top level. */
  readonly name: string;
  /** Lower-case host names, exact or `*.suffix`. */
  readonly hosts: readonly string[];
  readonly core: CoreConfig;
  readonly endpoint: URL;
  readonly apiKey: string;
  readonly tagHash: string;
  /** Its settings as they apply, by file key, the API key redacted: for check-config. */
  readonly effective: Readonly<Record<string, unknown>>;
}

export interface AppConfig {
  /** The top level's decision settings (requests no site matched; the warm-up). */
  readonly core: CoreConfig;
  /** The configured sites, in file order. */
  readonly sites: readonly SiteConfig[];
  /** The top level as a site; undefined when it has no tag hash (only sites are served). */
  readonly defaultSite: SiteConfig | undefined;
  /** The files this configuration was read from (config file, API key files), for reloads. */
  readonly files: readonly string[];
  /** Short hash of the effective configuration (secrets included, one-way): tells reloads apart. */
  readonly hash: string;
  /** The process settings (not a site's) by file key: for check-config. */
  readonly effective: Readonly<Record<string, unknown>>;
  readonly rti: {
    readonly endpoint: URL;
    readonly apiKey: string;
    readonly tagHash: string;
    readonly connections: number;
    /** Connections opened ahead of traffic at start; 0: none. */
    readonly preconnect: number;
    readonly maxInFlight: number;
    /** Undefined when the circuit breaker is turned off. */
    readonly circuit: CircuitSettings | undefined;
  };
  readonly server: {
    readonly host: string;
    readonly grpcPort: number;
    readonly httpPort: number;
    readonly httpKeepAliveTimeoutMs: number;
    readonly httpHeadersTimeoutMs: number;
    readonly metricsPort: number;
    /** Checks run against an in-process RTI emulator before reporting ready; 0: none. */
    readonly warmupChecks: number;
    readonly grpcKeepaliveTimeMs: number;
    readonly grpcMaxConnectionAgeMs: number;
    readonly grpcMaxConcurrentStreams: number;
    /** Connections each listener keeps open at once. */
    readonly maxConnections: number;
    /** Undefined: the gRPC listener is plaintext. */
    readonly grpcTls: GrpcTlsConfig | undefined;
    /** Cluster workers serving checks; 1: this process serves them itself. */
    readonly workers: number;
    /** Whether checks past rti_connections RTI calls in flight wait in line (or fail open). */
    readonly overloadShedding: boolean;
    readonly shutdownDelayMs: number;
    readonly shutdownGraceMs: number;
  };
  readonly logLevel: LogLevel;
  /** Things worth a warning at startup that do not stop it. */
  readonly warnings: readonly string[];
}

/** Every site a configuration serves: the top level (when it has a tag hash), then `sites`. */
export function servedSites(config: AppConfig): readonly SiteConfig[] {
  return config.defaultSite ? [config.defaultSite, ...config.sites] : config.sites;
}

/** Bad configuration: every problem, each naming its setting (and environment variable). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Command-line arguments after the command name (flags such as --timeout-ms 50). */
  readonly args: readonly string[];
}

let formatsAdded = false;

export function loadConfig(sources: ConfigSources): AppConfig {
  if (!formatsAdded) {
    for (const format of FORMATS) convict.addFormat(format);
    formatsAdded = true;
  }
  const configFile = configFileOf(sources);
  // Convict ignores flags and variables it does not know: a misspelt one would go unnoticed.
  const unknownSettings = unknownSettingProblems(sources);
  let config: convict.Config<Settings>;
  try {
    config = convict<Settings>(schema, {
      env: { ...sources.env },
      args: [...sources.args],
    });
  } catch (err: unknown) {
    throw new ConfigError([...unknownSettings, ...explainConvictError(err)]);
  }
  if (configFile !== undefined) {
    try {
      config.load(readConfigFile(configFile));
    } catch (err: unknown) {
      throw new ConfigError([
        ...unknownSettings,
        `config file ${configFile}: ${errorMessage(err)}`,
      ]);
    }
  }
  const problems: string[] = [...unknownSettings];
  try {
    config.validate({ allowed: 'strict' });
  } catch (err: unknown) {
    problems.push(...explainConvictError(err));
  }
  const settings = config.getProperties();
  const siteEntries = readSites(settings.sites, problems);
  // With sites, the top level may have no tag hash: it then serves no request itself.
  const servesTopLevel = siteEntries.length === 0 || String(settings.tag_hash).trim() !== '';
  const apiKey = servesTopLevel ? resolveApiKey(settings, problems) : '';
  problems.push(...crossFieldProblems(settings, servesTopLevel ? 'top level' : 'optional'));
  problems.push(...grpcTlsProblems(settings));
  const sites: { entry: SiteEntry; settings: Settings; apiKey: string }[] = [];
  for (const entry of siteEntries) {
    const siteProblems: string[] = [];
    const siteSettings = resolveSiteSettings(entry, settings, siteProblems);
    if (siteSettings) {
      const siteKey = resolveApiKey(siteSettings, siteProblems);
      siteProblems.push(...crossFieldProblems(siteSettings, 'site'));
      sites.push({ entry, settings: siteSettings, apiKey: siteKey });
    }
    problems.push(...siteProblems.map(problem => withSiteLabel(entry.label, problem)));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return buildAppConfig(settings, apiKey, servesTopLevel, sites, configFile);
}

/** A top-level message about a site's setting: named after the site, without env variables. */
function withSiteLabel(label: string, problem: string): string {
  if (problem.startsWith(label)) return problem;
  return `${label}: ${problem.replace(/ \((CHEQ|CONFIG)_[A-Z_]+( or CHEQ_[A-Z_]+)?\)/g, '')}`;
}

/**
 * A JSON or YAML file of settings; route_to_event_type, policy_rules and sites are kept as JSON
 * text. Parse errors give the position only: parsers quote the offending line, which may hold
 * the API key.
 */
function readConfigFile(path: string): Record<string, unknown> {
  const text = readFileSync(path, 'utf8');
  let parsed: unknown;
  if (/\.ya?ml$/i.test(path)) {
    try {
      parsed = parseYaml(text);
    } catch (err: unknown) {
      const at = err instanceof YAMLError ? err.linePos?.[0] : undefined;
      throw new Error(`not valid YAML${at ? ` (line ${at.line}, column ${at.col})` : ''}`);
    }
  } else {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error('not valid JSON');
    }
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error('must hold an object of settings');
  }
  const settings = { ...(parsed as Record<string, unknown>) };
  // Structured values are kept as the JSON text their environment variables hold.
  for (const key of ['route_to_event_type', 'policy_rules', 'sites']) {
    const value = settings[key];
    if (typeof value === 'object' && value !== null) settings[key] = JSON.stringify(value);
  }
  return settings;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `--config FILE`, `--config=FILE`, else CONFIG_FILE. */
function configFileOf(sources: ConfigSources): string | undefined {
  const { args } = sources;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--config') {
      const file = args[i + 1];
      if (file === undefined || file.startsWith('--')) {
        throw new ConfigError(['--config: needs a file name']);
      }
      return file;
    }
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return sources.env['CONFIG_FILE'] || undefined;
}

/** Rewrites convict's `key: message` lines as `key (ENV_VAR): message`. */
function explainConvictError(err: unknown): string[] {
  return convictProblems(errorMessage(err)).map(({ setting: key, text }) => {
    const setting =
      key === undefined ? undefined : (schema as Record<string, { env?: string }>)[key];
    return setting?.env && text.startsWith(`${key}:`)
      ? `${key} (${setting.env})${text.slice(key!.length)}`
      : text;
  });
}

/** Problems that involve several settings; tolerant of values convict already rejected. */
function crossFieldProblems(s: Settings, tagHash: 'top level' | 'site' | 'optional'): string[] {
  const problems: string[] = [];
  if (tagHash !== 'optional' && String(s.tag_hash).trim() === '') {
    const hint = tagHash === 'top level' ? ' (or configure sites)' : '';
    problems.push(`tag_hash (CHEQ_TAG_HASH): must be set${hint}`);
  }
  if (Array.isArray(s.block_redirect_codes) && Array.isArray(s.challenge_codes)) {
    const challenge = new Set(s.challenge_codes.map(Number));
    const both = [...new Set(s.block_redirect_codes.map(Number))].filter(
      code => Number.isSafeInteger(code) && challenge.has(code),
    );
    if (both.length > 0) {
      problems.push(
        `block_redirect_codes (CHEQ_BLOCK_REDIRECT_CODES) and challenge_codes (CHEQ_CHALLENGE_CODES): ` +
          `code ${both.join(', ')} is in both groups`,
      );
    }
  }
  if (s.challenge_action === 'redirect' && s.challenge_url === '') {
    problems.push(
      'challenge_url (CHEQ_CHALLENGE_URL): must be set when challenge_action is redirect',
    );
  }
  return problems;
}

/** The decision settings of the top level or of one site. */
function coreConfigOf(s: Settings, apiKey: string, trustedProxies: TrustedProxies): CoreConfig {
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
    redirectUrl: s.redirect_url || undefined,
    challengeAction: s.challenge_action as CoreConfig['challengeAction'],
    challengeUrl: s.challenge_url || undefined,
    uriExclusion: new PathPatternList(s.uri_exclusion),
    routeToEventType: new PathMap(Object.entries(parseRouteMap(s.route_to_event_type))),
    trustedIpHeader: s.trusted_ip_header || undefined,
    trustedProxies,
    ja3Header: s.ja3_header || undefined,
    ja4Header: s.ja4_header || undefined,
    channelParam: s.channel_param || undefined,
    ignoredHeaderNames: s.ignored_header_names.map(name => name.toLowerCase()),
    verdictHeaderNames: s.verdict_headers ? verdictHeaderNames(s.verdict_header_prefix) : undefined,
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
  warnings: string[],
): SiteConfig {
  const endpoint = new URL(s.api_endpoint);
  if (!KNOWN_RTI_ENDPOINTS.includes(endpoint.origin) || endpoint.pathname !== '/') {
    warnings.push(
      `${name === DEFAULT_SITE ? '' : `site ${name}: `}api_endpoint ${endpoint.origin}${endpoint.pathname} ` +
        `is not a known CHEQ RTI region (${KNOWN_RTI_ENDPOINTS.join(', ')})`,
    );
  }
  for (const entry of s.uri_exclusion.filter(matchesUnderAnyPath)) {
    warnings.push(
      `${name === DEFAULT_SITE ? '' : `site ${name}: `}uri_exclusion entry ${JSON.stringify(entry)} ` +
        'matches below any path: a client can exclude a protected path by appending e.g. /x.css ' +
        '(backends that ignore trailing path parts serve the protected page); anchor it to a ' +
        'directory (^/static/, /assets/**/*.css)',
    );
  }
  const effective: Record<string, unknown> = {};
  for (const key of SITE_SETTINGS) effective[key] = s[key];
  effective['api_key'] = apiKey === '' ? '' : REDACTED;
  return Object.freeze({
    name,
    hosts: Object.freeze([...hosts]),
    core: coreConfigOf(s, apiKey, trustedProxies),
    endpoint,
    apiKey,
    tagHash: s.tag_hash.trim(),
    effective: Object.freeze(effective),
  });
}

/** What check-config shows instead of an API key. */
export const REDACTED = '<redacted>';

/** Builds the typed configuration from settings already validated. */
function buildAppConfig(
  s: Settings,
  apiKey: string,
  servesTopLevel: boolean,
  sites: readonly { entry: SiteEntry; settings: Settings; apiKey: string }[],
  configFile: string | undefined,
): AppConfig {
  const warnings: string[] = [];
  const trustedProxies = TrustedProxies.parse(s.trusted_proxies);
  for (const entry of broadPublicEntries(s.trusted_proxies)) {
    warnings.push(
      `trusted_proxies entry ${JSON.stringify(entry)} trusts a broad range of public addresses: ` +
        "a client there picks its own IP with X-Forwarded-For; list your proxies' own ranges",
    );
  }
  const defaultSite = servesTopLevel
    ? siteConfigOf(DEFAULT_SITE, [], s, apiKey, trustedProxies, warnings)
    : undefined;
  const siteConfigs = sites.map(site =>
    siteConfigOf(
      site.entry.name,
      site.entry.hosts,
      site.settings,
      site.apiKey,
      trustedProxies,
      warnings,
    ),
  );
  const core = defaultSite?.core ?? coreConfigOf(s, apiKey, trustedProxies);
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
        Object.entries(s).filter(
          ([key]) => key !== 'sites' && !(SITE_SETTINGS as readonly string[]).includes(key),
        ),
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
    logLevel: s.log_level,
    warnings: Object.freeze(warnings),
  });
}

/** The API key, from api_key or from the file api_key_file names (exactly one of them). */
function resolveApiKey(s: Settings, problems: string[]): string {
  // Tolerant of non-string values from a config file, which convict reports separately.
  const inline = typeof s.api_key === 'string' ? s.api_key.trim() : '';
  const file = typeof s.api_key_file === 'string' ? s.api_key_file : '';
  if (inline !== '' && file !== '') {
    problems.push('api_key (CHEQ_API_KEY) and api_key_file (CHEQ_API_KEY_FILE): set only one');
    return '';
  }
  if (file === '') {
    if (inline === '') problems.push('api_key (CHEQ_API_KEY or CHEQ_API_KEY_FILE): must be set');
    return inline;
  }
  let key: string;
  try {
    key = readFileSync(file, 'utf8').trim();
  } catch (err: unknown) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    problems.push(`api_key_file (CHEQ_API_KEY_FILE): cannot read ${file} (${code})`);
    return '';
  }
  if (key === '') problems.push(`api_key_file (CHEQ_API_KEY_FILE): ${file} is empty`);
  return key;
}
