// Reads the configuration once: defaults < config file < environment < command-line flags.
// Validates every setting, reports every problem at once, returns a frozen AppConfig.

import { readFileSync } from 'node:fs';
import convict from 'convict';
import { parse as parseYaml } from 'yaml';
import type { CoreConfig } from '../core/decide';
import { PathMap, PathPatternList } from '../core/path-pattern';
import { verdictHeaderNames } from '../core/verdict-headers';
import { FORMATS } from './formats';
import { schema, type Settings } from './schema';

export const KNOWN_RTI_ENDPOINTS: readonly string[] = [
  'https://rti-us-east-1.cheqzone.com',
  'https://rti-eu-west-1.cheqzone.com',
  'https://rti-global.cheqzone.com',
];

export type LogLevel = Settings['log_level'];

export interface AppConfig {
  readonly core: CoreConfig;
  readonly rti: {
    readonly endpoint: URL;
    readonly apiKey: string;
    readonly tagHash: string;
    readonly connections: number;
  };
  readonly server: {
    readonly host: string;
    readonly grpcPort: number;
    readonly metricsPort: number;
    readonly grpcKeepaliveTimeMs: number;
    readonly grpcMaxConnectionAgeMs: number;
    readonly shutdownGraceMs: number;
  };
  readonly logLevel: LogLevel;
  /** Things worth a warning at startup that do not stop it. */
  readonly warnings: readonly string[];
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
    convict.addParser([
      { extension: 'json', parse: JSON.parse },
      { extension: ['yml', 'yaml'], parse: parseYaml },
    ]);
    formatsAdded = true;
  }
  const configFile = configFileOf(sources);
  let config: convict.Config<Settings>;
  try {
    config = convict<Settings>(schema, {
      env: { ...sources.env },
      args: [...sources.args],
    });
  } catch (err: unknown) {
    throw new ConfigError(explainConvictError(err));
  }
  if (configFile) {
    try {
      config.loadFile(configFile);
    } catch (err: unknown) {
      throw new ConfigError([`config file ${configFile}: ${errorMessage(err)}`]);
    }
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (err: unknown) {
    throw new ConfigError(explainConvictError(err));
  }
  return buildAppConfig(config.getProperties());
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `--config FILE`, `--config=FILE`, else CONFIG_FILE. */
function configFileOf(sources: ConfigSources): string | undefined {
  const { args } = sources;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--config') return args[i + 1];
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return sources.env['CONFIG_FILE'] || undefined;
}

/** Rewrites convict's `key: message` lines as `key (ENV_VAR): message`. */
function explainConvictError(err: unknown): string[] {
  return errorMessage(err)
    .split('\n')
    .map(line => {
      const key = line.slice(0, line.indexOf(':'));
      const setting = (schema as Record<string, { env?: string }>)[key];
      return setting?.env ? `${key} (${setting.env})${line.slice(key.length)}` : line;
    });
}

function buildAppConfig(s: Settings): AppConfig {
  const problems: string[] = [];
  const warnings: string[] = [];

  const apiKey = resolveApiKey(s, problems);
  if (s.tag_hash.trim() === '') problems.push('tag_hash (CHEQ_TAG_HASH): must be set');

  const blockCodes = new Set(s.block_redirect_codes.map(Number));
  const challengeCodes = new Set(s.challenge_codes.map(Number));
  const both = [...blockCodes].filter(code => challengeCodes.has(code));
  if (both.length > 0) {
    problems.push(
      `block_redirect_codes (CHEQ_BLOCK_REDIRECT_CODES) and challenge_codes (CHEQ_CHALLENGE_CODES): ` +
        `code ${both.join(', ')} is in both groups`,
    );
  }
  if (s.challenge_action === 'redirect' && s.challenge_url === '') {
    problems.push(
      'challenge_url (CHEQ_CHALLENGE_URL): must be set when challenge_action is redirect',
    );
  }
  const endpoint = new URL(s.api_endpoint);
  if (!KNOWN_RTI_ENDPOINTS.includes(endpoint.origin) || endpoint.pathname !== '/') {
    warnings.push(
      `api_endpoint ${endpoint.origin}${endpoint.pathname} is not a known CHEQ RTI region ` +
        `(${KNOWN_RTI_ENDPOINTS.join(', ')})`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const core: CoreConfig = {
    mode: s.mode as CoreConfig['mode'],
    timeoutMs: s.timeout_ms,
    deadlineMarginMs: s.deadline_margin_ms,
    blockRedirectCodes: blockCodes,
    challengeCodes,
    redirectUrl: s.redirect_url || undefined,
    challengeAction: s.challenge_action as CoreConfig['challengeAction'],
    challengeUrl: s.challenge_url || undefined,
    uriExclusion: new PathPatternList(s.uri_exclusion),
    routeToEventType: new PathMap(Object.entries(s.route_to_event_type)),
    trustedIpHeader: s.trusted_ip_header || undefined,
    ja3Header: s.ja3_header || undefined,
    channelParam: s.channel_param || undefined,
    ignoredHeaderNames: s.ignored_header_names.map(name => name.toLowerCase()),
    verdictHeaderNames: s.verdict_headers ? verdictHeaderNames(s.verdict_header_prefix) : undefined,
  };
  return Object.freeze({
    core: Object.freeze(core),
    rti: Object.freeze({
      endpoint,
      apiKey,
      tagHash: s.tag_hash.trim(),
      connections: s.rti_connections,
    }),
    server: Object.freeze({
      host: s.host,
      grpcPort: s.grpc_port,
      metricsPort: s.metrics_port,
      grpcKeepaliveTimeMs: s.grpc_keepalive_time_ms,
      grpcMaxConnectionAgeMs: s.grpc_max_connection_age_ms,
      shutdownGraceMs: s.shutdown_grace_ms,
    }),
    logLevel: s.log_level,
    warnings: Object.freeze(warnings),
  });
}

function resolveApiKey(s: Settings, problems: string[]): string {
  if (s.api_key !== '' && s.api_key_file !== '') {
    problems.push('api_key (CHEQ_API_KEY) and api_key_file (CHEQ_API_KEY_FILE): set only one');
    return '';
  }
  if (s.api_key_file !== '') {
    let key = '';
    try {
      key = readFileSync(s.api_key_file, 'utf8').trim();
    } catch (err: unknown) {
      const code = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
      problems.push(`api_key_file (CHEQ_API_KEY_FILE): cannot read ${s.api_key_file} (${code})`);
      return '';
    }
    if (key === '') problems.push(`api_key_file (CHEQ_API_KEY_FILE): ${s.api_key_file} is empty`);
    return key;
  }
  if (s.api_key.trim() === '') {
    problems.push('api_key (CHEQ_API_KEY or CHEQ_API_KEY_FILE): must be set');
  }
  return s.api_key.trim();
}
