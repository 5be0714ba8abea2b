// `cheq-rti-authz check-config`: loads the configuration exactly as the server would (same file,
// environment and flags), prints what applies per site with secrets redacted, and warns about
// valid but dangerous combinations. For CI pipelines and before a reload: exit 0 or 2.

import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { configAdvice, proxyTimeoutsOf, type ProxyTimeout } from '../config/config-advice';
import { ConfigError, loadConfig, type AppConfig, type SiteConfig } from '../config/load-config';
import { redactUrl } from '../config/redact-url';
import { EXIT_CONFIG_ERROR } from './serve-command';

export const CHECK_CONFIG_USAGE = `Usage: cheq-rti-authz check-config [--config FILE] [--proxy-config FILE ...] [--SETTING VALUE ...]

Validates the configuration the server would load from the same file, environment and flags,
prints the settings that apply to each site (API keys, and URLs' user info, query values and
fragments redacted) and warns about dangerous combinations: blocking with no exclusion for
health checks, exclusions that match below any path (.*\\.css), proxy timeouts below ours.
Exit status: 0 when valid (warnings or not), 2 when invalid.

Options:
  --config FILE           the config file (default: CHEQ_CONFIG_FILE)
  --proxy-config FILE     an Envoy or Istio YAML, or an NGINX file, whose ext_authz /
                          auth_request timeout to compare with ours; repeatable (default: the
                          shipped deploy/ files, when this is a checkout of the project)
`;

/** The shipped proxy files, relative to the project root. */
const SHIPPED_PROXY_FILES = [
  'deploy/envoy/envoy.yaml',
  'deploy/envoy/envoy-http.yaml',
  'deploy/istio/extension-providers.yaml',
  'deploy/istio/istiod-values.yaml',
  'deploy/nginx/cheq-authz.conf',
];
const PROJECT_ROOT = join(__dirname, '..', '..');

export function checkConfigCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  out: (text: string) => void = text => process.stdout.write(text),
  err: (text: string) => void = text => process.stderr.write(text),
): number {
  if (args.includes('--help') || args.includes('-h')) {
    out(CHECK_CONFIG_USAGE);
    return 0;
  }
  let proxyFiles: string[] | undefined;
  let config: AppConfig;
  try {
    const split = splitProxyFiles(args);
    proxyFiles = split.proxyFiles;
    config = loadConfig({ env, args: split.rest });
  } catch (error: unknown) {
    if (!(error instanceof ConfigError)) throw error;
    err(`cheq-rti-authz check-config: ${error.message}\n`);
    return EXIT_CONFIG_ERROR;
  }
  const files = proxyFiles ?? shippedProxyFiles();
  const timeouts: ProxyTimeout[] = [];
  const unreadable: string[] = [];
  for (const file of files) {
    try {
      timeouts.push(...proxyTimeoutsOf(shortPath(file), readFileSync(file, 'utf8')));
    } catch {
      unreadable.push(`${file}: cannot be read`);
    }
  }
  const warnings = [...config.warnings, ...unreadable, ...configAdvice(config, timeouts)];
  out(describe(config, timeouts, warnings));
  return 0;
}

function splitProxyFiles(args: readonly string[]): {
  proxyFiles: string[] | undefined;
  rest: string[];
} {
  const proxyFiles: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--proxy-config') {
      const file = args[++i];
      if (file === undefined || file.startsWith('--')) {
        throw new ConfigError([{ setting: '--proxy-config', message: 'needs a file name' }]);
      }
      proxyFiles.push(file);
    } else if (arg.startsWith('--proxy-config='))
      proxyFiles.push(arg.slice('--proxy-config='.length));
    else rest.push(arg);
  }
  return { proxyFiles: proxyFiles.length > 0 ? proxyFiles : undefined, rest };
}

function shippedProxyFiles(): string[] {
  return SHIPPED_PROXY_FILES.map(file => join(PROJECT_ROOT, file)).filter(file => existsSync(file));
}

function describe(
  config: AppConfig,
  timeouts: readonly ProxyTimeout[],
  warnings: readonly string[],
): string {
  const lines = [
    `cheq-rti-authz check-config: configuration valid (hash ${config.hash})`,
    `read from: ${config.files.length > 0 ? config.files.join(', ') : 'environment and flags only'}`,
    '',
    'process',
    ...settingLines(config.effective),
  ];
  const sites: [SiteConfig, string][] = config.sites.map(site => [
    site,
    `site ${site.name} (hosts: ${site.hosts.join(', ') || 'none: context_extensions cheq_site only'})`,
  ]);
  if (config.defaultSite) {
    sites.unshift([config.defaultSite, 'site default (requests no other site matches)']);
  } else {
    lines.push(
      '',
      'no top-level site (no tag_hash): requests no site matches are allowed unchecked',
    );
  }
  for (const [site, title] of sites) lines.push('', title, ...settingLines(site.effective));
  lines.push(
    '',
    timeouts.length === 0 ? 'proxy timeouts compared: none' : 'proxy timeouts compared:',
  );
  for (const t of timeouts) lines.push(`  ${t.file}: ${t.setting} ${t.ms} ms`);
  lines.push('', `challenge: ${config.challengeFallback ?? 'served when a strategy asks for it'}`);
  lines.push('', warnings.length === 0 ? 'warnings: none' : 'warnings:');
  for (const warning of warnings) lines.push(`  - ${warning}`);
  return `${lines.join('\n')}\n`;
}

function settingLines(settings: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(settings).map(([key, value]) => `  ${key.padEnd(28)} ${show(value)}`);
}

function show(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? '(empty)' : value.join(', ');
  if (value === '' || value === undefined) return '(empty)';
  // Any URL, whatever the setting: its user info, query values and fragment may be secrets.
  return typeof value === 'string' ? redactUrl(value) : JSON.stringify(value);
}

function shortPath(file: string): string {
  const fromRoot = relative(PROJECT_ROOT, file);
  return fromRoot.startsWith('..') ? file : fromRoot;
}
