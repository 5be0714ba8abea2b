// The `sites` list: many sites behind one gateway, each matched by host names or by Envoy's
// context_extensions cheq_site, each with its own CHEQ settings. A site's settings are read and
// validated by convict with the same formats as the top level (same messages, naming the site),
// and every setting it leaves out is the top level's.

import { closestName } from './closest-name';
import { settingProblem, type ConfigProblem } from './config-error';
import { convictSettings, UNEXPLAINED_REFUSAL } from './convict-settings';
import { fileValue } from './file-value';
import type { SettingName, Settings } from './schema';
import { isSettingName, SITE_SETTINGS, specOf } from './setting-lists';

/** Label of the top-level settings (requests no site matched) and of requests nothing serves. */
export const DEFAULT_SITE = 'default';
export const NO_SITE = 'none';

const SITE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const HOST_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** One site as read from the file, before its settings are resolved. */
export interface SiteEntry {
  readonly name: string;
  /** Lower-case host names, exact or `*.suffix`; may be empty (matched by cheq_site only). */
  readonly hosts: readonly string[];
  /** `sites[N] name`: how messages name it. */
  readonly label: string;
  /** Its own settings, as given. */
  readonly overrides: Readonly<Partial<Record<SettingName, unknown>>>;
}

/**
 * Reads the sites list (JSON text or a list). Problems are pushed, each naming the site; the
 * sites that could be read are returned.
 */
export function readSites(value: unknown, problems: ConfigProblem[]): SiteEntry[] {
  let list: unknown;
  try {
    list = typeof value === 'string' ? JSON.parse(value) : value;
  } catch {
    problems.push(settingProblem('sites', 'not valid JSON'));
    return [];
  }
  if (!Array.isArray(list)) {
    problems.push(settingProblem('sites', 'must be a list of sites: { name, hosts, ...settings }'));
    return [];
  }
  const names = new Set<string>();
  const hostOwners = new Map<string, string>();
  const sites: SiteEntry[] = [];
  list.forEach((entry: unknown, index) => {
    const at = `sites[${index + 1}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push({ site: at, message: 'must be an object { name, hosts, ...settings }' });
      return;
    }
    const { name, hosts, ...rest } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || !SITE_NAME.test(name)) {
      problems.push({
        site: at,
        message: 'name must be 1-63 lower-case letters, digits, . _ - (a metric label)',
      });
      return;
    }
    const label = `${at} ${name}`;
    if (name === DEFAULT_SITE || name === NO_SITE) {
      problems.push({
        site: label,
        message: `the names ${DEFAULT_SITE} and ${NO_SITE} are reserved`,
      });
    } else if (names.has(name)) {
      problems.push({ site: label, message: 'the name is used twice' });
    }
    names.add(name);
    const hostList = hosts === undefined ? [] : Array.isArray(hosts) ? hosts : [hosts];
    const clean: string[] = [];
    for (const host of hostList) {
      const normal = typeof host === 'string' ? host.trim().toLowerCase() : '';
      if (!HOST_NAME.test(normal)) {
        problems.push({
          site: label,
          setting: 'hosts',
          message: `${JSON.stringify(host)} is not a host name or *.suffix`,
        });
        continue;
      }
      const owner = hostOwners.get(normal);
      if (owner !== undefined && owner !== name) {
        problems.push({
          site: label,
          setting: 'hosts',
          message: `${normal} is also a host of site ${owner}`,
        });
      }
      hostOwners.set(normal, name);
      clean.push(normal);
    }
    const overrides: Partial<Record<SettingName, unknown>> = {};
    for (const [key, setting] of Object.entries(rest)) {
      const spec = specOf(key);
      if (!isSettingName(key) || spec?.scope !== 'site') {
        const hint = closestName(key, SITE_SETTINGS);
        const why =
          spec === undefined
            ? `is not a setting${hint === undefined ? '' : ` (did you mean ${hint}?)`}`
            : 'is a process setting, set at the top level only';
        problems.push({ site: label, message: `${key} ${why}` });
        continue;
      }
      const read = fileValue(spec, setting);
      if ('problem' in read) problems.push({ site: label, setting: key, message: read.problem });
      else overrides[key] = read.value;
    }
    sites.push({ name, hosts: clean, label, overrides });
  });
  return sites;
}

/**
 * A site's settings: the top level's, its own over them, read and checked by convict. Setting
 * either api_key or api_key_file replaces both. Problems are pushed naming the site; an inherited
 * value's problem is the top level's, reported there once.
 */
export function resolveSiteSettings(
  site: SiteEntry,
  topLevel: Settings,
  problems: ConfigProblem[],
): Settings | undefined {
  const inherited: Partial<Record<SettingName, unknown>> = { ...topLevel };
  // A setting the site sets has no default: convict would check an invalid top-level value there
  // too, and refuse with no problem of the site's to show for it.
  for (const setting of SITE_SETTINGS) {
    if (Object.hasOwn(site.overrides, setting)) delete inherited[setting];
  }
  if ('api_key' in site.overrides || 'api_key_file' in site.overrides) {
    inherited.api_key = '';
    inherited.api_key_file = '';
  }
  // No variables or flags: a site's values come from the file only.
  const { settings, failures, refused } = convictSettings({
    settings: SITE_SETTINGS,
    defaults: inherited,
    env: {},
    args: [],
    file: site.overrides,
  });
  for (const { setting, message } of failures) {
    if (Object.hasOwn(site.overrides, setting)) {
      problems.push({ site: site.label, setting, message });
    }
  }
  if (settings === undefined || (refused && failures.length === 0)) {
    problems.push({ ...UNEXPLAINED_REFUSAL, site: site.label });
  }
  return settings === undefined || refused ? undefined : { ...topLevel, ...settings };
}
