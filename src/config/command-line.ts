// The command line's shape: `--flag value`, `--flag=value`, or a bare `--flag`. Convict reads the
// settings' values itself; this walk finds --config, the flags that name no setting (convict
// ignores those) and the settings a flag gives.

export interface FlagArg {
  /** As given, without any `=value`: `--timeout-ms`, `-m`. */
  readonly flag: string;
  /** Without its dashes: `timeout-ms`. */
  readonly name: string;
  /** Undefined for a bare flag. */
  readonly value: string | undefined;
}

export interface CommandLine {
  readonly flags: readonly FlagArg[];
  /** 1-based positions of arguments that are neither a flag nor a flag's value. */
  readonly strays: readonly number[];
}

/** A flag (`--x`, `-x`), not a value such as `-5` or `-`, nor the `--` separator. */
function isFlag(arg: string): boolean {
  return arg.startsWith('-') && arg !== '-' && arg !== '--' && !/^-\d/.test(arg);
}

export function parseCommandLine(args: readonly string[]): CommandLine {
  const flags: FlagArg[] = [];
  const strays: number[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!isFlag(arg)) {
      strays.push(i + 1);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    // `--flag value`: the next argument is the value, unless it is a flag itself.
    if (eq < 0 && i + 1 < args.length && !isFlag(args[i + 1] ?? '')) value = args[++i];
    flags.push({ flag, name: flag.replace(/^--?/, ''), value });
  }
  return { flags, strays };
}
