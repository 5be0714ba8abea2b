// Reads the configuration's sources into one raw value per setting: the config file (JSON or
// YAML, tuning knobs under `advanced:`), the environment (CHEQ_ names; the old names for now) and
// the command-line flags, each over the one before. Values are checked later (validate-settings).

import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLError } from 'yaml';
import { closestName } from './closest-name';
import { parseCommandLine } from './command-line';
import { ConfigError, type ConfigProblem } from './config-error';
import { isKubernetesServiceLink } from './kubernetes-service-link';
import { schema, type SettingName, type SettingSpec } from './schema';
import { specOf } from './setting-lists';
import {
  CONFIG_FILE_ENV,
  CONFIG_FLAG,
  FLAG_SETTINGS,
  unknownSettingProblems,
} from './unknown-settings';

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Command-line arguments after the command name (flags such as --timeout-ms 50). */
  readonly args: readonly string[];
}

export interface RawSettings {
  /** Each setting given, from the source that wins (flag > environment > file), as given. */
  readonly values: ReadonlyMap<SettingName, unknown>;
  /** Settings read from their old variable name, and that name. */
  readonly legacyEnv: ReadonlyMap<SettingName, string>;
  readonly configFile: string | undefined;
  /** Old names and places still read, one line each. */
  readonly warnings: readonly string[];
  /** Flags, variables and file keys that name no setting. */
  readonly problems: readonly ConfigProblem[];
}

/** CONFIG_FILE, the config file's variable before the CHEQ_ prefix. */
const LEGACY_CONFIG_FILE_ENV = 'CONFIG_FILE';

const SETTINGS = Object.entries(schema) as [SettingName, SettingSpec][];

/** @throws ConfigError when the config file cannot be read, with the names no setting has. */
export function readSources(sources: ConfigSources): RawSettings {
  const values = new Map<SettingName, unknown>();
  const legacyEnv = new Map<SettingName, string>();
  const warnings: string[] = [];
  // Names no setting has: a misspelt one would otherwise go unnoticed.
  const problems = unknownSettingProblems(sources);
  const configFile = configFileOf(sources, warnings);
  if (configFile !== undefined) {
    let parsed: Record<string, unknown>;
    try {
      parsed = readConfigFile(configFile);
    } catch (err: unknown) {
      const message = err instanceof Error ? err.message : String(err);
      throw new ConfigError([...problems, { file: configFile, message }]);
    }
    readFileSettings(configFile, parsed, values, warnings, problems);
  }
  readEnvironment(sources.env, values, legacyEnv, warnings);
  for (const { flag, name, value } of parseCommandLine(sources.args).flags) {
    const key = flag.startsWith('--') ? FLAG_SETTINGS.get(name) : undefined;
    if (key === undefined) continue;
    // A bare flag is true, as `--verdict-headers`.
    values.set(key, value ?? 'true');
    legacyEnv.delete(key);
  }
  return { values, legacyEnv, configFile, warnings, problems };
}

/** Every setting's variable, or its old name when only that is set (with a warning). */
function readEnvironment(
  env: ConfigSources['env'],
  values: Map<SettingName, unknown>,
  legacyEnv: Map<SettingName, string>,
  warnings: string[],
): void {
  for (const [key, spec] of SETTINGS) {
    const current = variable(env, spec.env);
    const old = spec.legacyEnv === undefined ? undefined : variable(env, spec.legacyEnv);
    if (current !== undefined) values.set(key, current);
    if (old === undefined || spec.legacyEnv === undefined) continue;
    warnings.push(renamedWarning(spec.legacyEnv, spec.env, current !== undefined));
    if (current === undefined) {
      values.set(key, old);
      legacyEnv.set(key, spec.legacyEnv);
    }
  }
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
 * The file's settings into `values`: the everyday ones at the top level, the advanced ones under
 * `advanced:` (at the top level they are still read, with a warning naming their new place).
 */
function readFileSettings(
  file: string,
  parsed: Record<string, unknown>,
  values: Map<SettingName, unknown>,
  warnings: string[],
  problems: ConfigProblem[],
): void {
  const { advanced = {}, ...topLevel } = parsed;
  const advancedBlock = advanced === null ? {} : advanced;
  if (!isMapping(advancedBlock)) {
    problems.push({ file, setting: 'advanced', message: 'must be a mapping of advanced settings' });
  }
  const underAdvanced = isMapping(advancedBlock) ? advancedBlock : {};
  for (const [key, value] of Object.entries(topLevel)) {
    const spec = specOf(key);
    if (spec === undefined) {
      problems.push({ file, setting: key, message: notASetting(key, () => true) });
      continue;
    }
    if (spec.advanced) {
      warnings.push(
        Object.hasOwn(underAdvanced, key)
          ? `config file ${file}: ${key} is set both at the top level and under advanced: ` +
              `advanced.${key} is used; remove the top-level one`
          : `config file ${file}: ${key} belongs under advanced: (advanced.${key}); ` +
              'the top-level key is read for now',
      );
    }
    values.set(key as SettingName, fileValue(spec, value));
  }
  for (const [key, value] of Object.entries(underAdvanced)) {
    const spec = specOf(key);
    if (spec?.advanced) {
      values.set(key as SettingName, fileValue(spec, value));
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
  }
}

/** Structured values are kept as the JSON text their environment variables hold. */
function fileValue(spec: SettingSpec, value: unknown): unknown {
  return spec.structured && typeof value === 'object' && value !== null
    ? JSON.stringify(value)
    : value;
}

function notASetting(key: string, among: (spec: SettingSpec) => boolean): string {
  const hint = closestName(
    key,
    SETTINGS.filter(([, spec]) => among(spec)).map(([name]) => name),
  );
  return `not a setting${hint === undefined ? '' : ` (did you mean ${hint}?)`}`;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
