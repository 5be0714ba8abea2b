#!/usr/bin/env node
// Entry point and bin of cheq-rti-authz: `serve` (the default), `check`, `check-config`, `forget`
// and `demo`.
// The only module that ends the process or sets its exit code: the others return or throw.

import { checkCommand, CHECK_USAGE } from './cli/check-command';
import { checkConfigCommand, CHECK_CONFIG_USAGE } from './cli/check-config-command';
import { demo } from './cli/demo-command';
import { forgetCommand, FORGET_USAGE } from './cli/forget-command';
import { EXIT_CONFIG_ERROR, serve } from './cli/serve-command';
import { ConfigError } from './config/load-config';
import { schema, type SettingSpec } from './config/schema';
import { VERSION } from './version';

function usage(): string {
  const specs = Object.entries(schema as Record<string, SettingSpec>);
  const settings = specs
    .filter(([, s]) => !s.advanced)
    .map(
      ([key, s]) =>
        `  ${(s.arg ? `--${s.arg}` : '(no flag)').padEnd(30)} ${s.env.padEnd(34)} ${key}`,
    )
    .join('\n');
  const advanced = specs
    .filter(([, s]) => s.advanced)
    .map(([key, s]) => `  ${s.env.padEnd(34)} advanced.${key}`)
    .join('\n');
  return `cheq-rti-authz ${VERSION}: Envoy/Istio ext_authz and NGINX auth_request server for CHEQ RTI

Usage:
  cheq-rti-authz [--config FILE] [--SETTING VALUE ...]   run the server
  cheq-rti-authz demo [--SETTING VALUE ...]             run it against the built-in RTI emulator
  cheq-rti-authz check --url URL [...]                  send one check to a running server
  cheq-rti-authz check-config [--config FILE] [...]     validate and print the configuration
  cheq-rti-authz forget (--ip A | --duid ID | --all)    forget remembered blocks (verdict memory)
  cheq-rti-authz --help | --version

Configuration: defaults < config file (--config FILE or CHEQ_CONFIG_FILE; JSON or YAML)
< environment < command-line flags. An unknown flag or CHEQ_ variable is an error. The API key
is never a flag: CHEQ_API_KEY_FILE (a mounted file), CHEQ_API_KEY or the config file.
Advanced settings (no flag) still read their old flag (--rti-connections) for now, with a warning.
Settings (flag, environment variable, file key):
${settings}
Advanced settings, tuning knobs (environment variable, file key; no flag):
${advanced}

${CHECK_USAGE}
${CHECK_CONFIG_USAGE}
${FORGET_USAGE}`;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage());
  } else if (command === '--version') {
    process.stdout.write(`${VERSION}\n`);
  } else if (command === 'check') {
    process.exitCode = await checkCommand(rest);
  } else if (command === 'check-config') {
    process.exitCode = checkConfigCommand(rest, process.env);
  } else if (command === 'forget') {
    process.exitCode = await forgetCommand(rest, process.env);
  } else if (command === 'demo') {
    // A stopped server's handles (the RTI emulator, workers, timers) may still be open.
    process.exit(await demo(rest));
  } else if (command === undefined || command.startsWith('-')) {
    process.exit(await serve({ env: process.env, args: argv }));
  } else {
    process.stderr.write(
      `cheq-rti-authz: unknown command ${JSON.stringify(command)}\n\n${usage()}`,
    );
    process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`cheq-rti-authz: ${err.message}\n`);
    process.exit(EXIT_CONFIG_ERROR);
  }
  process.stderr.write(
    `cheq-rti-authz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
