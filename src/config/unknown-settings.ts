// Strict sources: a command-line flag or a CHEQ_ environment variable that names no setting is
// an error, never silently ignored (a misspelt --mode would leave a deployment in monitoring).
// The known names are the schema's, so a new setting needs no list here. Messages name the flag
// or variable, never its value, which may be a secret.

import { closestName } from './closest-name';
import { parseCommandLine } from './command-line';
import type { ConfigProblem } from './config-error';
import { FORMAT_BY_NAME } from './formats';
import { isKubernetesServiceLink } from './kubernetes-service-link';
import { schema, type SettingName, type SettingSpec } from './schema';
import { flagOf } from './setting-lists';

const ENV_PREFIX = 'CHEQ_';

/** Read by the loader itself (read-sources' configFileOf), not settings: convict ignores them. */
export const CONFIG_FLAG = 'config';
export const CONFIG_FILE_ENV = 'CHEQ_CONFIG_FILE';

const SETTINGS = Object.entries(schema) as [SettingName, SettingSpec][];

/** Every flag a setting has (an advanced setting's old one included), by flag name. */
export const FLAG_SETTINGS: ReadonlyMap<string, SettingName> = new Map(
  SETTINGS.flatMap(([key]) => {
    const flag = flagOf(key);
    return flag === undefined ? [] : [[flag.arg, key] as const];
  }),
);

const FLAGS: ReadonlySet<string> = new Set([...FLAG_SETTINGS.keys(), CONFIG_FLAG]);

const ENV_NAMES: ReadonlySet<string> = new Set([
  ...SETTINGS.flatMap(([, spec]) =>
    spec.cheqAlias === undefined ? [spec.env] : [spec.env, spec.cheqAlias.env],
  ),
  CONFIG_FILE_ENV,
]);

/** Whether a flag gives a comma list, which a repeat of the flag adds to. */
export function isListFlag(name: string): boolean {
  const key = FLAG_SETTINGS.get(name);
  if (key === undefined) return false;
  const spec: SettingSpec = schema[key];
  return typeof spec.format === 'string' && FORMAT_BY_NAME.get(spec.format)?.list === true;
}

/** `apikey` for --api-key, --api_key, --apiKey: the spellings that would name one setting. */
function squash(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/**
 * Settings without a flag, by their squashed key: secrets, which `ps` would show to every user of
 * the host; a flag that gives one is refused with where to put it instead.
 */
const REFUSED_FLAGS: ReadonlyMap<string, SettingName> = new Map(
  SETTINGS.filter(([key]) => flagOf(key) === undefined).map(([key]) => [squash(key), key]),
);

/** The one line an advanced setting's old flag gets: read for now, and where the setting belongs. */
export function oldFlagWarning(key: SettingName): string {
  const spec: SettingSpec = schema[key];
  return (
    `--${flagOf(key)?.arg ?? key}: ${key} is an advanced setting: the flag is read for now; ` +
    `use ${spec.env} (environment) or advanced.${key} in the config file`
  );
}

function refusedFlagProblem(flag: string, key: SettingName): ConfigProblem {
  const spec: SettingSpec = schema[key];
  const file = (schema as Record<string, SettingSpec | undefined>)[`${key}_file`];
  const where = [
    ...(file ? [`${file.env} (a mounted file)`] : []),
    `${spec.env} (environment)`,
    `${key} in the config file`,
  ];
  return {
    setting: flag,
    message:
      `${key} is not read from the command line, where ps shows it to every user: ` +
      `use ${where.slice(0, -1).join(', ')} or ${where.at(-1)}`,
  };
}

function flagProblems(args: readonly string[]): ConfigProblem[] {
  const { flags, strays } = parseCommandLine(args);
  const problems: ConfigProblem[] = strays.map(position => ({
    setting: `argument ${position}`,
    message: 'not a --flag; settings are given as --flag value or --flag=value',
  }));
  for (const { flag, name } of flags) {
    // A known flag given twice is read-sources' to judge (it reads the flags' settings).
    if (flag.startsWith('--') && FLAGS.has(name)) continue;
    const refused = REFUSED_FLAGS.get(squash(name));
    if (refused !== undefined) {
      problems.push(refusedFlagProblem(flag, refused));
      continue;
    }
    const hint = closestName(name, FLAGS);
    problems.push({
      setting: flag,
      message: `not a setting${hint ? ` (did you mean --${hint}?)` : ''}`,
    });
  }
  return problems;
}

function envProblems(env: Readonly<Record<string, string | undefined>>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || ENV_NAMES.has(name)) continue;
    if (!name.toUpperCase().startsWith(ENV_PREFIX)) continue;
    if (isKubernetesServiceLink(name, value)) continue;
    const hint = closestName(name, ENV_NAMES);
    problems.push({
      setting: name,
      message: `not a setting${hint ? ` (did you mean ${hint}?)` : ''}`,
    });
  }
  return problems;
}

/** Every flag and CHEQ_ variable that names no setting, one problem each. */
export function unknownSettingProblems(sources: {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly args: readonly string[];
}): ConfigProblem[] {
  return [...flagProblems(sources.args), ...envProblems(sources.env)];
}
