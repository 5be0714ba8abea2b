// Checks settings: convict reads each one from its sources and our validators judge its value
// (convict-settings: one problem per bad setting, never parsed from a library's message), then
// the rules that involve several settings.

import { ConfigError, settingProblem, type ConfigProblem } from './config-error';
import { convictSettings, UNEXPLAINED_REFUSAL } from './convict-settings';
import { schema, type SettingName, type Settings } from './schema';
import type { RawSettings } from './read-sources';

const SETTING_NAMES = Object.keys(schema) as SettingName[];

/**
 * Every setting, from its default, the file, the environment and the flags; a problem for each
 * invalid one.
 * @throws ConfigError with the problems so far when the settings cannot be read at all (a bug)
 */
export function settingsOf(raw: RawSettings, problems: ConfigProblem[]): Settings {
  const { settings, failures, refused } = convictSettings({
    settings: SETTING_NAMES,
    env: raw.env,
    args: raw.args,
    file: raw.file,
  });
  for (const { setting, message } of failures) {
    // A repeated flag is the problem; the joined value (`2,3`) convict then refuses is not news.
    if (!raw.repeatedFlags.has(setting)) problems.push(settingProblem(setting, message));
  }
  // Convict also refuses the file keys the reader already reported (its strict mode).
  if (settings === undefined || (refused && problems.length === 0)) {
    problems.push(UNEXPLAINED_REFUSAL);
  }
  if (settings === undefined) throw new ConfigError(problems);
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
  problems.push(...sharedCodeProblems(s));
  if (s.challenge_action === 'redirect' && s.challenge_url === '') {
    problems.push(settingProblem('challenge_url', 'must be set when challenge_action is redirect'));
  }
  if (s.challenge_strategy === 'redirect' && s.challenge_url === '') {
    problems.push(
      settingProblem('challenge_url', 'must be set when challenge_strategy is redirect'),
    );
  }
  return problems;
}

/** The default code groups; a code in two of them would have its action chosen by priority alone. */
const CODE_GROUPS = ['block_redirect_codes', 'challenge_codes', 'redirect_codes'] as const;

/** One problem per pair of code groups that share a code. */
function sharedCodeProblems(s: Settings): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  CODE_GROUPS.forEach((first, index) => {
    for (const second of CODE_GROUPS.slice(index + 1)) {
      const firstCodes: unknown = s[first];
      const secondCodes: unknown = s[second];
      if (!Array.isArray(firstCodes) || !Array.isArray(secondCodes)) continue;
      const other = new Set(secondCodes.map(Number));
      const both = [...new Set(firstCodes.map(Number))].filter(
        code => Number.isSafeInteger(code) && other.has(code),
      );
      if (both.length === 0) continue;
      problems.push(
        settingProblem(first, `code ${both.join(', ')} is in both groups`, {
          with: { join: 'and', settings: [second] },
        }),
      );
    }
  });
  return problems;
}
