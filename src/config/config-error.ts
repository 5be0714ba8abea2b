// Bad configuration as values: each problem names the setting it is about (with its environment
// variable), and the site or the config file when it is in one, so that no caller has to read
// them back from message text. formatProblem() is the one place that words them for people.

import type { SettingName } from './schema';
import { specOf } from './setting-lists';

export interface ConfigProblem {
  /** A setting's file key (`timeout_ms`), or the flag, variable or argument that names none. */
  readonly setting?: string;
  /** The setting's environment variable. */
  readonly env?: string;
  /** The old variable name (GRPC_PORT) the value was read from, when it was. */
  readonly legacyEnv?: string;
  /** Other settings the problem is about, e.g. both code lists holding one code. */
  readonly with?: { readonly join: 'and' | 'or'; readonly settings: readonly SettingName[] };
  /** The old variable names some of the `with` settings were read from, by setting. */
  readonly withLegacyEnv?: Readonly<Partial<Record<SettingName, string>>>;
  /** CHEQ's names (CHEQ_THREAT_CODES_BLOCK) the problem's settings were read from, by setting. */
  readonly cheqEnv?: Readonly<Partial<Record<SettingName, string>>>;
  /** `sites[2] shop`: the problem is in that site's own settings. */
  readonly site?: string;
  /** The config file, when the problem is in the file itself rather than in a setting's value. */
  readonly file?: string;
  readonly message: string;
}

/** A problem with a setting's value, naming its environment variable. */
export function settingProblem(
  setting: SettingName,
  message: string,
  more: Omit<ConfigProblem, 'setting' | 'env' | 'message'> = {},
): ConfigProblem {
  return { setting, env: specOf(setting)?.env, ...more, message };
}

/**
 * One problem as a line: `timeout_ms (CHEQ_TIMEOUT_MS): must be ...`. A site's problem names the
 * site and not the variables (a site's values come from the file only).
 */
export function formatProblem(problem: ConfigProblem): string {
  const where = problem.site ?? (problem.file === undefined ? '' : `config file ${problem.file}`);
  const names = namesOf(problem, problem.site === undefined);
  const message =
    problem.legacyEnv === undefined
      ? problem.message
      : `${problem.message}; if another program set ${problem.legacyEnv}, set ${problem.env}, which wins`;
  return [where, names, message].filter(part => part !== '').join(': ');
}

function namesOf(problem: ConfigProblem, withEnv: boolean): string {
  if (problem.setting === undefined) return '';
  const named = (setting: string, env: string | undefined, legacyEnv?: string): string => {
    if (!withEnv || env === undefined) return setting;
    const cheqName = problem.cheqEnv?.[setting as SettingName];
    if (cheqName !== undefined) return `${setting} (${cheqName}, CHEQ's name for ${env})`;
    return legacyEnv === undefined
      ? `${setting} (${env})`
      : `${setting} (${legacyEnv}, the old name of ${env})`;
  };
  const first = named(problem.setting, problem.env, problem.legacyEnv);
  const others = (problem.with?.settings ?? []).map(setting =>
    named(setting, specOf(setting)?.env, problem.withLegacyEnv?.[setting]),
  );
  return [first, ...others].join(` ${problem.with?.join ?? 'and'} `);
}

/** Bad configuration: every problem, each naming its setting (and environment variable). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The problems as printed, one line each. */
  readonly problems: readonly string[];

  constructor(readonly details: readonly ConfigProblem[]) {
    const problems = details.map(formatProblem);
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}
