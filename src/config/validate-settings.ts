// Checks settings: each value against its own format (one problem per bad setting, built here,
// never parsed from a library's message), then the rules that involve several settings.

import { settingProblem, type ConfigProblem } from './config-error';
import { FORMAT_BY_NAME } from './formats';
import { schema, type SettingName, type Settings, type SettingSpec } from './schema';
import type { RawSettings } from './read-sources';

/** Text from the environment, a flag or the file, as the setting's format reads it. */
export function coerceSetting(key: SettingName, value: unknown): unknown {
  const { format } = schema[key] as SettingSpec;
  if (typeof value !== 'string' || typeof format !== 'string') return value;
  const coerce = FORMAT_BY_NAME.get(format)?.coerce;
  return coerce === undefined ? value : coerce(value);
}

/** What is wrong with a (coerced) value of a setting, or undefined when it is valid. */
export function valueProblem(key: SettingName, value: unknown): string | undefined {
  const spec: SettingSpec = schema[key];
  // A mapping where a value belongs (`api_key: {…}` in YAML): its keys may be the secret itself.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return 'must be a single value, not a mapping';
  }
  let message: string | undefined;
  try {
    message = formatMismatch(spec.format, value);
  } catch (err: unknown) {
    message = err instanceof Error ? err.message : String(err);
  }
  if (message === undefined) return undefined;
  return spec.sensitive || value === undefined
    ? message
    : `${message}: value was ${JSON.stringify(value)}`;
}

function formatMismatch(format: SettingSpec['format'], value: unknown): string | undefined {
  if (format === String) return typeof value === 'string' ? undefined : 'must be a string';
  if (typeof format === 'object') {
    return (format as readonly unknown[]).includes(value)
      ? undefined
      : `must be one of the possible values: ${JSON.stringify(format)}`;
  }
  const named = FORMAT_BY_NAME.get(format as string);
  if (named === undefined) throw new Error(`unknown format ${String(format)}`);
  named.validate(value);
  return undefined;
}

/** Every setting: its default unless given, coerced; a problem for each invalid one. */
export function settingsOf(raw: RawSettings, problems: ConfigProblem[]): Settings {
  const settings: Record<string, unknown> = {};
  for (const key of Object.keys(schema) as SettingName[]) {
    const given = raw.values.has(key);
    // A copy: the schema's default lists must not be shared with a configuration.
    const value = coerceSetting(
      key,
      given ? raw.values.get(key) : structuredClone<unknown>(schema[key].default),
    );
    const message = valueProblem(key, value);
    if (message !== undefined) {
      const legacyEnv = raw.legacyEnv.get(key);
      problems.push(settingProblem(key, message, legacyEnv === undefined ? {} : { legacyEnv }));
    }
    settings[key] = value;
  }
  return settings as Settings;
}

/** Problems that involve several settings; tolerant of values already found invalid. */
export function crossFieldProblems(
  s: Settings,
  tagHash: 'top level' | 'site' | 'optional',
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (tagHash !== 'optional' && String(s.tag_hash).trim() === '') {
    const hint = tagHash === 'top level' ? ' (or configure sites)' : '';
    problems.push(settingProblem('tag_hash', `must be set${hint}`));
  }
  if (Array.isArray(s.block_redirect_codes) && Array.isArray(s.challenge_codes)) {
    const challenge = new Set(s.challenge_codes.map(Number));
    const both = [...new Set(s.block_redirect_codes.map(Number))].filter(
      code => Number.isSafeInteger(code) && challenge.has(code),
    );
    if (both.length > 0) {
      problems.push(
        settingProblem('block_redirect_codes', `code ${both.join(', ')} is in both groups`, {
          with: { join: 'and', settings: ['challenge_codes'] },
        }),
      );
    }
  }
  if (s.challenge_action === 'redirect' && s.challenge_url === '') {
    problems.push(settingProblem('challenge_url', 'must be set when challenge_action is redirect'));
  }
  return problems;
}
