// Strict sources: a command-line flag or a CHEQ_ environment variable that names no setting is
// an error, never silently ignored (a misspelt --mode would leave a deployment in monitoring).
// The known names are the schema's, so a new setting needs no list here. Messages name the flag
// or variable, never its value, which may be a secret.

import { closestName } from './closest-name';
import { isKubernetesServiceLink } from './kubernetes-service-link';
import { schema } from './schema';

const ENV_PREFIX = 'CHEQ_';

const SETTING_NAMES = schema as Record<string, { env: string; arg?: string }>;
const SETTINGS = Object.entries(SETTING_NAMES);

/** Flags the loader reads itself (load-config's configFileOf). */
const LOADER_FLAGS = ['config'];

const FLAGS: ReadonlySet<string> = new Set([
  ...SETTINGS.flatMap(([, setting]) => (setting.arg === undefined ? [] : [setting.arg])),
  ...LOADER_FLAGS,
]);

const ENV_NAMES: ReadonlySet<string> = new Set(
  SETTINGS.map(([, setting]) => setting.env).filter(name => name.startsWith(ENV_PREFIX)),
);

/** `apikey` for --api-key, --api_key, --apiKey: the spellings that would name one setting. */
function squash(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/**
 * Settings without a flag, by their squashed key: secrets, which `ps` would show to every user of
 * the host, so a flag that carries one is refused with where to put it instead.
 */
const REFUSED_FLAGS: ReadonlyMap<string, string> = new Map(
  SETTINGS.filter(([, setting]) => setting.arg === undefined).map(([key]) => [squash(key), key]),
);

/** A flag (`--x`, `-x`), not a value such as `-5` or `-`, nor the `--` separator. */
function isFlag(arg: string): boolean {
  return arg.startsWith('-') && arg !== '-' && arg !== '--' && !/^-\d/.test(arg);
}

function refusedFlagProblem(flag: string, key: string): string {
  const file = SETTING_NAMES[`${key}_file`];
  const where = [
    ...(file ? [`${file.env} (a mounted file)`] : []),
    `${SETTING_NAMES[key]?.env} (environment)`,
    `${key} in the config file`,
  ];
  return (
    `${flag}: ${key} is not read from the command line, where ps shows it to every user: ` +
    `use ${where.slice(0, -1).join(', ')} or ${where.at(-1)}`
  );
}

function flagProblems(args: readonly string[]): string[] {
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!isFlag(arg)) {
      problems.push(
        `argument ${i + 1}: not a --flag; settings are given as --flag value or --flag=value`,
      );
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    // `--flag value`: the next argument is the value, unless it is a flag itself.
    if (eq < 0 && i + 1 < args.length && !isFlag(args[i + 1] ?? '')) i++;
    const name = flag.replace(/^--?/, '');
    if (flag.startsWith('--') && FLAGS.has(name)) continue;
    const refused = REFUSED_FLAGS.get(squash(name));
    if (refused !== undefined) {
      problems.push(refusedFlagProblem(flag, refused));
      continue;
    }
    const hint = closestName(name, FLAGS);
    problems.push(`${flag}: not a setting${hint ? ` (did you mean --${hint}?)` : ''}`);
  }
  return problems;
}

function envProblems(env: Readonly<Record<string, string | undefined>>): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || ENV_NAMES.has(name)) continue;
    if (!name.toUpperCase().startsWith(ENV_PREFIX)) continue;
    if (isKubernetesServiceLink(name, value)) continue;
    const hint = closestName(name, ENV_NAMES);
    problems.push(`${name}: not a setting${hint ? ` (did you mean ${hint}?)` : ''}`);
  }
  return problems;
}

/** Every flag and CHEQ_ variable that names no setting, one problem each. */
export function unknownSettingProblems(sources: {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly args: readonly string[];
}): string[] {
  return [...flagProblems(sources.args), ...envProblems(sources.env)];
}
