// The `sites` list: many sites behind one gateway, each matched by host names or by Envoy's
// context_extensions cheq_site, each with its own CHEQ settings. A site's settings are validated
// by the same schema as the top level (same formats, same messages, prefixed with the site), and
// every setting it leaves out is the top level's.

import convict from 'convict';
import { schema, type Settings } from './schema';

/** Settings a site may set; the others are the process's (ports, pools, workers...). */
export const SITE_SETTINGS = [
  'api_key',
  'api_key_file',
  'tag_hash',
  'api_endpoint',
  'api_version',
  'mode',
  'enforce_percent',
  'timeout_ms',
  'redirect_url',
  'block_redirect_codes',
  'challenge_codes',
  'challenge_action',
  'challenge_url',
  'policy_rules',
  'uri_exclusion',
  'route_to_event_type',
  'channel_param',
] as const satisfies readonly (keyof Settings)[];

type SiteSettingName = (typeof SITE_SETTINGS)[number];

/** Label of the top-level settings (requests no site matched) and of requests nothing serves. */
export const DEFAULT_SITE = 'default';
export const NO_SITE = 'none';

const SITE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const HOST_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
/** Settings kept as JSON text, like their environment variables hold them. */
const JSON_SETTINGS: ReadonlySet<string> = new Set(['route_to_event_type', 'policy_rules']);

/** One site as read from the file, before its settings are resolved. */
export interface SiteEntry {
  readonly name: string;
  /** Lower-case host names, exact or `*.suffix`; may be empty (matched by cheq_site only). */
  readonly hosts: readonly string[];
  /** `sites[N] name`: how messages name it. */
  readonly label: string;
  /** Its own settings, as given. */
  readonly overrides: Readonly<Partial<Record<SiteSettingName, unknown>>>;
}

/**
 * Reads the sites list (JSON text or a list). Problems are pushed, each naming the site; the
 * sites that could be read are returned.
 */
export function readSites(value: unknown, problems: string[]): SiteEntry[] {
  let list: unknown;
  try {
    list = typeof value === 'string' ? JSON.parse(value) : value;
  } catch {
    problems.push('sites (CHEQ_SITES): not valid JSON');
    return [];
  }
  if (!Array.isArray(list)) {
    problems.push('sites (CHEQ_SITES): must be a list of sites: { name, hosts, ...settings }');
    return [];
  }
  const names = new Set<string>();
  const hostOwners = new Map<string, string>();
  const sites: SiteEntry[] = [];
  list.forEach((entry: unknown, index) => {
    const at = `sites[${index + 1}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${at}: must be an object { name, hosts, ...settings }`);
      return;
    }
    const { name, hosts, ...rest } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || !SITE_NAME.test(name)) {
      problems.push(`${at}: name must be 1-63 lower-case letters, digits, . _ - (a metric label)`);
      return;
    }
    const label = `${at} ${name}`;
    if (name === DEFAULT_SITE || name === NO_SITE) {
      problems.push(`${label}: the names ${DEFAULT_SITE} and ${NO_SITE} are reserved`);
    } else if (names.has(name)) {
      problems.push(`${label}: the name is used twice`);
    }
    names.add(name);
    const hostList = hosts === undefined ? [] : Array.isArray(hosts) ? hosts : [hosts];
    const clean: string[] = [];
    for (const host of hostList) {
      const normal = typeof host === 'string' ? host.trim().toLowerCase() : '';
      if (!HOST_NAME.test(normal)) {
        problems.push(`${label}: hosts: ${JSON.stringify(host)} is not a host name or *.suffix`);
        continue;
      }
      const owner = hostOwners.get(normal);
      if (owner !== undefined && owner !== name) {
        problems.push(`${label}: hosts: ${normal} is also a host of site ${owner}`);
      }
      hostOwners.set(normal, name);
      clean.push(normal);
    }
    const overrides: Partial<Record<SiteSettingName, unknown>> = {};
    for (const [key, setting] of Object.entries(rest)) {
      if (!(SITE_SETTINGS as readonly string[]).includes(key)) {
        const why =
          key in schema ? 'is a process setting, set at the top level only' : 'is not a setting';
        problems.push(`${label}: ${key} ${why}`);
        continue;
      }
      overrides[key as SiteSettingName] =
        JSON_SETTINGS.has(key) && typeof setting === 'object' && setting !== null
          ? JSON.stringify(setting)
          : setting;
    }
    sites.push({ name, hosts: clean, label, overrides });
  });
  return sites;
}

/**
 * A site's settings: the top level's, its own over them, validated by the schema's formats.
 * Setting either api_key or api_key_file replaces both. Problems are pushed with the site's label.
 */
export function resolveSiteSettings(
  site: SiteEntry,
  topLevel: Settings,
  problems: string[],
): Settings | undefined {
  const inherited: Record<string, unknown> = {};
  for (const key of SITE_SETTINGS) inherited[key] = topLevel[key];
  if ('api_key' in site.overrides || 'api_key_file' in site.overrides) {
    inherited['api_key'] = '';
    inherited['api_key_file'] = '';
  }
  const subSchema = Object.fromEntries(
    SITE_SETTINGS.map(key => {
      // Without env and arg: a site's value comes from the file only.
      const setting: Record<string, unknown> = { ...schema[key] };
      delete setting['env'];
      delete setting['arg'];
      return [key, setting];
    }),
  );
  const config = convict(subSchema as convict.Schema<Record<string, unknown>>, {
    env: {},
    args: [],
  });
  try {
    config.load({ ...inherited, ...site.overrides });
    config.validate({ allowed: 'strict' });
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    // An inherited value's problem is the top level's, reported there once.
    const own = convictProblems(message).filter(
      ({ setting }) => setting === undefined || Object.hasOwn(site.overrides, setting),
    );
    problems.push(...own.map(({ text }) => `${site.label}: ${text}`));
    return undefined;
  }
  return { ...topLevel, ...(config.getProperties() as Partial<Settings>) };
}

/**
 * convict's validation message as one problem per setting. A mapping where a value belongs
 * (`api_key: {…}` in YAML) is reported without its inner keys: they may be the secret itself.
 */
export function convictProblems(message: string): { setting: string | undefined; text: string }[] {
  const seen = new Set<string>();
  const problems: { setting: string | undefined; text: string }[] = [];
  for (const line of message.split('\n')) {
    const nested = /^configuration param '([a-z0-9_]+)[.']/.exec(line);
    const setting = nested?.[1] ?? /^([a-z0-9_]+):/.exec(line)?.[1];
    const text =
      nested && setting !== undefined && setting in schema
        ? `${setting}: must be a single value, not a mapping`
        : line;
    if (seen.has(text)) continue;
    seen.add(text);
    problems.push({ setting, text });
  }
  return problems;
}
