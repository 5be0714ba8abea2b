// The lists of settings other modules need, derived from the schema, so that a setting is
// described in one place only.

import { schema, type SettingName, type SettingSpec } from './schema';

const ENTRIES = Object.entries(schema) as [SettingName, SettingSpec][];

function namesWhere(test: (spec: SettingSpec) => boolean): readonly SettingName[] {
  return Object.freeze(ENTRIES.filter(([, spec]) => test(spec)).map(([name]) => name));
}

/** Settings a site in `sites` may set; the others are the process's (ports, pools, workers...). */
export const SITE_SETTINGS = namesWhere(spec => spec.scope === 'site');

/** Settings a running process cannot take: sockets, pools, workers, the shutdown it planned. */
export const RESTART_ONLY_SETTINGS = namesWhere(spec => spec.applies === 'restart');

/** The setting a file key names, or undefined (also for `constructor` and other non-keys). */
export function specOf(name: string): SettingSpec | undefined {
  return Object.hasOwn(schema, name) ? schema[name as SettingName] : undefined;
}

/** Whether a name is a setting's file key. */
export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(schema, name);
}

/**
 * A setting's flag: its own, or an advanced setting's flag from before issue #21 took tuning knobs
 * off the command line (the key in kebab case), still read for now with a warning.
 */
export function flagOf(
  key: SettingName,
): { readonly arg: string; readonly old: boolean } | undefined {
  const spec: SettingSpec = schema[key];
  if (spec.arg !== undefined) return { arg: spec.arg, old: false };
  return spec.advanced ? { arg: key.replace(/_/g, '-'), old: true } : undefined;
}
