// Convict is the configuration engine: it reads each setting's environment variable and flag,
// coerces text by the setting's format, applies the defaults, runs the validators and, strict,
// refuses what no setting declares. Its schema is derived here from ours (schema.ts), with
// advanced settings under `advanced` as in the config file. Every value is judged by our own
// validator, which records the problem as a value as it runs; convict's message text is never read.

import convict from 'convict';
import type { ConfigProblem } from './config-error';
import { isMapping } from './file-value';
import { FORMAT_BY_NAME } from './formats';
import { schema, type SettingName, type SettingSpec } from './schema';
import { flagOf } from './setting-lists';

/** What convict is given: which settings, their defaults, and the three sources. */
export interface ConvictSources {
  readonly settings: readonly SettingName[];
  /** Defaults other than the schema's: a site's are the top level's values. */
  readonly defaults?: Readonly<Partial<Record<SettingName, unknown>>>;
  /** Variables by name: convict reads each setting's `env`. */
  readonly env: Readonly<Record<string, string>>;
  /** The command line: convict reads each setting's `arg` (with yargs-parser). */
  readonly args: readonly string[];
  /** Loaded over the defaults and under the environment and flags. */
  readonly file: Readonly<Record<string, unknown>>;
}

/** A value our validator refused, and why. */
export interface SettingFailure {
  readonly setting: SettingName;
  readonly message: string;
}

export interface ConvictOutcome {
  /** Every setting in schema order, advanced ones among them; undefined when convict broke. */
  readonly settings: Record<string, unknown> | undefined;
  readonly failures: readonly SettingFailure[];
  /** Whether convict refused the configuration: a value, or a key no setting declares. */
  readonly refused: boolean;
}

/** Convict refused, or broke, without one of our validators or checks saying why: our bug. */
export const UNEXPLAINED_REFUSAL: ConfigProblem = {
  message:
    'internal error: the configuration engine refused the configuration without naming a ' +
    'setting; please report this bug in cheq-rti-authz',
};

/** A convict schema entry carrying its setting's check, which the formats below call. */
interface CheckedEntry extends convict.SchemaObj {
  readonly check: (value: unknown) => void;
}

// Our named formats: convict coerces text with their coerce, and passes a format's validate the
// schema entry it checks (a documented convict feature), whose check records the problem.
for (const format of FORMAT_BY_NAME.values()) {
  convict.addFormat({
    name: format.name,
    ...(format.coerce === undefined ? {} : { coerce: format.coerce }),
    validate: (value: unknown, entry: convict.SchemaObj) => (entry as CheckedEntry).check(value),
  });
}

/** The convict schema of some settings; `check` throws for an invalid value. */
function convictSchema(
  sources: ConvictSources,
  check: (setting: SettingName, value: unknown) => void,
): convict.Schema<Record<string, unknown>> {
  const everyday: Record<string, CheckedEntry> = {};
  const advanced: Record<string, CheckedEntry> = {};
  for (const setting of sources.settings) {
    const spec: SettingSpec = schema[setting];
    const settingCheck = (value: unknown): void => check(setting, value);
    (spec.advanced ? advanced : everyday)[setting] = {
      doc: spec.doc,
      default:
        sources.defaults !== undefined && Object.hasOwn(sources.defaults, setting)
          ? sources.defaults[setting]
          : spec.default,
      // String and lists of values coerce nothing, so the check is their format itself.
      format: typeof spec.format === 'string' ? spec.format : settingCheck,
      check: settingCheck,
      env: spec.env,
      arg: flagOf(setting)?.arg,
      sensitive: spec.sensitive === true,
    };
  }
  return Object.keys(advanced).length === 0 ? everyday : { ...everyday, advanced };
}

/** The settings as convict reads and checks them; never throws. */
export function convictSettings(sources: ConvictSources): ConvictOutcome {
  const failures: SettingFailure[] = [];
  const check = (setting: SettingName, value: unknown): void => {
    const message = valueProblem(setting, value);
    if (message === undefined) return;
    failures.push({ setting, message });
    // Convict refuses a value its format throws for; how it words that is never read.
    throw new Error(message);
  };
  let refused = false;
  let properties: Record<string, unknown>;
  try {
    const config = convict(convictSchema(sources, check), {
      env: { ...sources.env },
      args: [...sources.args],
    });
    config.load(sources.file);
    try {
      config.validate({ allowed: 'strict' });
    } catch {
      refused = true;
    }
    properties = config.getProperties();
  } catch {
    // The schema and the values handed over are built for convict: a throw here is our bug.
    return { settings: undefined, failures, refused: true };
  }
  const { advanced, ...everyday } = properties;
  const flat: Record<string, unknown> = { ...everyday, ...(isMapping(advanced) ? advanced : {}) };
  return {
    settings: Object.fromEntries(sources.settings.map(setting => [setting, flat[setting]])),
    failures,
    refused,
  };
}

/** What is wrong with a (coerced) value of a setting, or undefined when it is valid. */
function valueProblem(setting: SettingName, value: unknown): string | undefined {
  const spec: SettingSpec = schema[setting];
  let message: string | undefined;
  try {
    message = formatMismatch(spec.format, value);
  } catch (err: unknown) {
    message = err instanceof Error ? err.message : String(err);
  }
  if (message === undefined) return undefined;
  return spec.sensitive || value === undefined ? message : `${message}: value was ${quoted(value)}`;
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

/** The value as JSON, or a word for it when JSON cannot hold it (a list holding itself). */
function quoted(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return 'a list that holds itself';
  }
}
