// The configuration as the server uses it: typed, resolved per site, frozen. Built from
// validated settings by buildAppConfig; read everywhere through loadConfig's exports.

import type { SiteverifySettings } from '../challenge/providers/siteverify-client';
import type { CoreConfig } from '../core/decide';
import type { RedisConfig } from './redis-config';
import type { Settings } from './schema';
import type { GrpcTlsConfig } from './tls-files';

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
  /** Its captcha provider's verify settings; undefined for `browser` or without a secret. */
  readonly siteverify: SiteverifySettings | undefined;
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
  /** The verdict memory of the process (each site's TTL is in its CoreConfig). */
  readonly verdictMemory: { readonly maxEntries: number };
  /** Where the verdict memory is shared with the other replicas; undefined: not shared. */
  readonly redis: RedisConfig | undefined;
  readonly logLevel: LogLevel;
  /** Things worth a warning at startup that do not stop it. */
  readonly warnings: readonly string[];
  /**
   * Said (one warn line) at start and by check-config when a strategy asks for the served
   * challenge and no challenge_secret is set: challenges are allowed instead. Not a warning:
   * it is the default, and CHEQ's integrations behave alike.
   */
  readonly challengeFallback: string | undefined;
}

/** Every site a configuration serves: the top level (when it has a tag hash), then `sites`. */
export function servedSites(config: AppConfig): readonly SiteConfig[] {
  return config.defaultSite ? [config.defaultSite, ...config.sites] : config.sites;
}

/** What check-config shows instead of an API key. */
export const REDACTED = '<redacted>';
