// A value the config file gives a setting, at the top level or in a site, as convict is handed it.
// One rule for both, so that a site reads the file exactly as the top level does.

import type { SettingSpec } from './schema';

export type FileValue = { readonly value: unknown } | { readonly problem: string };

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A structured setting's list or object becomes the JSON text its environment variable holds.
 * A mapping where one value belongs (`api_key: {…}` in YAML) is refused and never handed on:
 * convict would walk into it, and its keys may be the secret itself, so the problem does not
 * quote it.
 */
export function fileValue(spec: SettingSpec, value: unknown): FileValue {
  if (spec.structured && typeof value === 'object' && value !== null) {
    try {
      return { value: JSON.stringify(value) };
    } catch {
      // A YAML alias that refers to itself: no JSON text can hold it.
      return { problem: 'must not refer to itself (a YAML alias inside its own anchor)' };
    }
  }
  return isMapping(value) ? { problem: 'must be a single value, not a mapping' } : { value };
}
