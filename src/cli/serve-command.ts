// `cheq-rti-authz [flags]`: load the configuration, start the listeners, stop gracefully on
// SIGTERM/SIGINT. Bad configuration exits 2 before anything listens.

import { startApp } from '../app';
import { ConfigError, loadConfig, type ConfigSources } from '../config/load-config';
import { createLogger, type Logger } from '../observability/logger';

export const EXIT_CONFIG_ERROR = 2;

export interface ListeningPorts {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
}

export interface ServeHooks {
  /** Called once listening, with the bound ports. */
  readonly onListening?: (ports: {
    grpcPort: number;
    httpPort: number;
    metricsPort: number;
  }) => void;
  /** Called after the graceful stop, before the process exits. */
  readonly onStopped?: () => Promise<void>;
}

export async function serve(sources: ConfigSources, hooks: ServeHooks = {}): Promise<void> {
  let config;
  try {
    config = loadConfig(sources);
  } catch (err: unknown) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`cheq-rti-authz: ${err.message}\n`);
    process.exit(EXIT_CONFIG_ERROR);
  }
  const log = createLogger(config.logLevel);
  guardProcess(log);

  let app;
  try {
    app = await startApp(config, log);
  } catch (err: unknown) {
    log.fatal({ err }, 'cannot start');
    log.flush();
    process.exit(1);
  }
  hooks.onListening?.({
    grpcPort: app.grpcPort,
    httpPort: app.httpPort,
    metricsPort: app.metricsPort,
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      log.flush();
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight checks');
    app
      .shutdown()
      .then(() => hooks.onStopped?.())
      .then(
        () => {
          log.info('stopped');
          log.flush(() => process.exit(0));
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          log.flush(() => process.exit(1));
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** A stray rejection is logged, not fatal; an uncaught exception leaves us unknown: exit. */
function guardProcess(log: Logger): void {
  process.on('unhandledRejection', reason => {
    log.error({ err: reason }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', err => {
    log.fatal({ err }, 'uncaught exception: exiting');
    log.flush();
    process.exit(1);
  });
}
