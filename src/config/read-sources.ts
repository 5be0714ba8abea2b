// Reads the configuration's sources into what convict takes: the config file's settings (JSON or
// YAML, tuning knobs under `advanced:`), the environment (CHEQ_ names; the old names for now) and
// the command line, which convict reads itself. Convict applies them in that order over the
// defaults and our validators check the values (validate-settings).

import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLError } from 'yaml';
import { closestName } from './closest-name';
import { parseCommandLine } from './command-line';
import { ConfigError, settingProblem, type ConfigProblem } from './config-error';
import { fileValue, isMapping } from './file-value';
import { isKubernetesServiceLink } from './kubernetes-service-link';
import { schema, type CheqAlias, type SettingName, type SettingSpec } from './schema';
import { flagOf, specOf } from './setting-lists';
import {
  CONFIG_FILE_ENV,
  CONFIG_FLAG,
  FLAG_SETTINGS,
  isListFlag,
  oldFlagWarning,
  unknownSettingProblems,
} from './unknown-settings';

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Command-line arguments after the command name (flags such as --timeout-ms 50). */
  readonly args: readonly string[];
}

export interface RawSettings {
  /** Each setting's variable that has a value, by its CHEQ_ name (filled from the old name). */
  readonly env: Readonly<Record<string, string>>;
  /** The command line as given: convict reads each setting's flag from it. */
  readonly args: readonly string[];
  /** The config file's keys, advanced ones under `advanced`; empty without a file. */
  readonly file: Readonly<Record<string, unknown>>;
  /** Settings read from their old variable name, and that name. */
  readonly legacyEnv: ReadonlyMap<SettingName, string>;
  /** Settings read from CHEQ's standard name (schema cheqAlias), and that name. */
  readonly cheqEnv: ReadonlyMap<SettingName, string>;
  /** Settings whose flag was given more than once, not being a list (a problem already). */
  readonly repeatedFlags: ReadonlySet<SettingName>;
  readonly configFile: string | undefined;
  /** Old names and places still read, one line each. */
  readonly warnings: readonly string[];
  /** Flags, variables and file keys that name no setting, and file values no setting can hold. */
  readonly problems: readonly ConfigProblem[];
}

/** CONFIG_FILE, the config file's variable before the CHEQ_ prefix. */
const LEGACY_CONFIG_FILE_ENV = 'CONFIG_FILE';

const SETTINGS = Object.entries(schema) as [SettingName, SettingSpec][];

/** @throws ConfigError when the config file cannot be read, with the names no setting has. */
export function readSources(sources: ConfigSources): RawSettings {
  const warnings: string[] = [];
  // Names no setting has: a misspelt one would otherwise go unnoticed.
  const problems = unknownSettingProblems(sources);
  const configFile = configFileOf(sources, warnings);
  // The file's warnings come first, as the file is read first.
  const envWarnings: string[] = [];
  const { env, legacyEnv, cheqEnv } = environment(sources.env, envWarnings);
  // Settings a variable or a flag gives: their file values are never used.
  const overridden = new Set<SettingName>();
  for (const [key, spec] of SETTINGS) if (Object.hasOwn(env, spec.env)) overridden.add(key);
  const flagged = new Set<SettingName>();
  const flagWarnings: string[] = [];
  const repeatedFlags = new Set<SettingName>();
  for (const { flag, name } of parseCommandLine(sources.args).flags) {
    const key = flag.startsWith('--') ? FLAG_SETTINGS.get(name) : undefined;
    if (key === undefined) continue;
    // Convict's parser joins the values of a repeated flag into one, `a,b`: a list's items, any
    // other setting's problem.
    if (flagged.has(key) && !isListFlag(name)) {
      if (!repeatedFlags.has(key))
        problems.push({ setting: flag, message: 'given more than once' });
      repeatedFlags.add(key);
    } else if (!flagged.has(key) && flagOf(key)?.old === true)
      flagWarnings.push(oldFlagWarning(key));
    flagged.add(key);
    overridden.add(key);
    // A flag wins over a variable: a bad value it gave is the flag's, not the other name's.
    legacyEnv.delete(key);
    cheqEnv.delete(key);
  }
  let file: Record<string, unknown> = {};
  if (configFile !== undefined) {
    let parsed: Record<string, unknown>;
    try {
      parsed = readConfigFile(configFile);
    } catch (err: unknown) {
      const message = err instanceof Error ? err.message : String(err);
      throw new ConfigError([...problems, { file: configFile, message }]);
    }
    file = fileSettings(configFile, parsed, overridden, warnings, problems);
  }
  warnings.push(...envWarnings, ...flagWarnings);
  return {
    env,
    args: sources.args,
    file,
    legacyEnv,
    cheqEnv,
    repeatedFlags,
    configFile,
    warnings,
    problems,
  };
}

/**
 * Every setting's variable; else CHEQ's name for it (its value in our spelling), silently, as
 * CHEQ's integrations document it; else its old name's value, with a warning.
 */
function environment(
  env: ConfigSources['env'],
  warnings: string[],
): {
  env: Record<string, string>;
  legacyEnv: Map<SettingName, string>;
  cheqEnv: Map<SettingName, string>;
} {
  const read: [string, string][] = [];
  const legacyEnv = new Map<SettingName, string>();
  const cheqEnv = new Map<SettingName, string>();
  for (const [key, spec] of SETTINGS) {
    let value = variable(env, spec.env);
    const alias = spec.cheqAlias === undefined ? undefined : variable(env, spec.cheqAlias.env);
    if (alias !== undefined && spec.cheqAlias !== undefined) {
      if (value === undefined) {
        value = ourValue(spec.cheqAlias, alias);
        cheqEnv.set(key, spec.cheqAlias.env);
      } else {
        warnings.push(
          `${spec.cheqAlias.env} and ${spec.env} are both set: ${spec.env} is used; ` +
            `${spec.cheqAlias.env} is CHEQ's name for it, remove one`,
        );
      }
    }
    const old = spec.legacyEnv === undefined ? undefined : variable(env, spec.legacyEnv);
    if (old !== undefined && spec.legacyEnv !== undefined) {
      warnings.push(renamedWarning(spec.legacyEnv, spec.env, value !== undefined));
      if (value === undefined) legacyEnv.set(key, spec.legacyEnv);
    }
    value ??= old;
    if (value !== undefined) read.push([spec.env, value]);
  }
  return { env: Object.fromEntries(read), legacyEnv, cheqEnv };
}

/** CHEQ's spelling of a value in ours (CAPTCHA: challenge); any other value as it is, to be judged. */
function ourValue(alias: CheqAlias, value: string): string {
  const key = value.toUpperCase();
  return alias.values !== undefined && Object.hasOwn(alias.values, key)
    ? (alias.values[key] ?? value)
    : value;
}

/** The one line an old variable name gets: read for now, or ignored for the new one. */
function renamedWarning(old: string, current: string, bothSet: boolean): string {
  return bothSet
    ? `${old} and ${current} are both set: ${current} is used; ${old} is its old name, remove it`
    : `${old} is the old name of ${current}: it is read for now; rename it`;
}

/**
 * A variable's value; undefined when unset, or when it is a Kubernetes service link (a Service
 * named cheq-grpc sets CHEQ_GRPC_PORT=tcp://…): kubelet wrote it, and a variable the pod sets
 * itself replaces it, so no operator meant it as the setting.
 */
function variable(env: ConfigSources['env'], name: string): string | undefined {
  const value = env[name];
  return value === undefined || isKubernetesServiceLink(name, value) ? undefined : value;
}

/** `--config FILE`, `--config=FILE`, else CHEQ_CONFIG_FILE (or its old name CONFIG_FILE). */
function configFileOf(sources: ConfigSources, warnings: string[]): string | undefined {
  for (const { flag, value } of parseCommandLine(sources.args).flags) {
    if (flag !== `--${CONFIG_FLAG}`) continue;
    if (value === undefined) {
      throw new ConfigError([{ setting: `--${CONFIG_FLAG}`, message: 'needs a file name' }]);
    }
    return value;
  }
  const current = sources.env[CONFIG_FILE_ENV] || undefined;
  const old = sources.env[LEGACY_CONFIG_FILE_ENV] || undefined;
  if (old !== undefined) {
    warnings.push(renamedWarning(LEGACY_CONFIG_FILE_ENV, CONFIG_FILE_ENV, current !== undefined));
  }
  return current ?? old;
}

/**
 * A JSON or YAML file holding an object of settings. Parse errors give the position only:
 * parsers quote the offending line, which may hold the API key.
 */
function readConfigFile(path: string): Record<string, unknown> {
  const text = readFileSync(path, 'utf8');
  let parsed: unknown;
  if (/\.ya?ml$/i.test(path)) {
    try {
      parsed = parseYaml(text);
    } catch (err: unknown) {
      const at = err instanceof YAMLError ? err.linePos?.[0] : undefined;
      throw new Error(`not valid YAML${at ? ` (line ${at.line}, column ${at.col})` : ''}`);
    }
  } else {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error('not valid JSON');
    }
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isMapping(parsed)) throw new Error('must hold an object of settings');
  return parsed;
}

/**
 * The file's keys as convict loads them: the everyday settings at the top level, the advanced ones
 * under `advanced` (at the top level they are still read, with a warning naming their new place).
 * A key that names no setting is a problem here, with a hint, and is handed on for convict's
 * strict mode without its value (never read; it could be deep or refer to itself); a value no
 * setting can hold is not handed on, and is a problem unless a variable or flag replaces it.
 */
function fileSettings(
  file: string,
  parsed: Record<string, unknown>,
  overridden: ReadonlySet<SettingName>,
  warnings: string[],
  problems: ConfigProblem[],
): Record<string, unknown> {
  const { advanced = {}, ...topLevel } = parsed;
  const advancedBlock = advanced === null ? {} : advanced;
  if (!isMapping(advancedBlock)) {
    problems.push({ file, setting: 'advanced', message: 'must be a mapping of advanced settings' });
  }
  const underAdvanced = isMapping(advancedBlock) ? advancedBlock : {};
  const everyday: [string, unknown][] = [];
  const tuning: [string, unknown][] = [];
  const take = (key: string, spec: SettingSpec, value: unknown, into: [string, unknown][]) => {
    const read = fileValue(spec, value);
    if (!('problem' in read)) into.push([key, read.value]);
    else if (!overridden.has(key as SettingName)) {
      problems.push(settingProblem(key as SettingName, read.problem));
    }
  };
  for (const [key, value] of Object.entries(topLevel)) {
    const spec = specOf(key);
    if (spec === undefined) {
      problems.push({ file, setting: key, message: notASetting(key, () => true) });
      everyday.push([key, null]);
    } else if (!spec.advanced) {
      take(key, spec, value, everyday);
    } else if (Object.hasOwn(underAdvanced, key)) {
      warnings.push(
        `config file ${file}: ${key} is set both at the top level and under advanced: ` +
          `advanced.${key} is used; remove the top-level one`,
      );
    } else {
      warnings.push(
        `config file ${file}: ${key} belongs under advanced: (advanced.${key}); ` +
          'the top-level key is read for now',
      );
      take(key, spec, value, tuning);
    }
  }
  for (const [key, value] of Object.entries(underAdvanced)) {
    const spec = specOf(key);
    if (spec?.advanced) {
      take(key, spec, value, tuning);
      continue;
    }
    problems.push({
      file,
      setting: `advanced.${key}`,
      message:
        spec === undefined
          ? notASetting(key, other => other.advanced === true)
          : `${key} is not an advanced setting: set it at the top level`,
    });
    tuning.push([key, null]);
  }
  // fromEntries, not assignment: a key `__proto__` stays a key (convict skips it).
  return Object.fromEntries([...everyday, ['advanced', Object.fromEntries(tuning)]]);
}

function notASetting(key: string, among: (spec: SettingSpec) => boolean): string {
  const hint = closestName(
    key,
    SETTINGS.filter(([, spec]) => among(spec)).map(([name]) => name),
  );
  return `not a setting${hint === undefined ? '' : ` (did you mean ${hint}?)`}`;
}
