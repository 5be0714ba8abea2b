// `cheq-rti-authz [flags]`: load the configuration, start the listeners, reload it on SIGHUP
// and on file changes, stop gracefully on SIGTERM/SIGINT. Bad configuration exits 2 before
// anything listens.

import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { startApp, startListeners, startReloader } from '../app';
import { ConfigError, loadConfig, type AppConfig, type ConfigSources } from '../config/load-config';
import { createLogger, type Logger } from '../observability/logger';
import { runPrimary, type WorkerListening } from './cluster-primary';

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
  const root = createLogger(config.logLevel);
  const log = cluster.isWorker ? root.child({ worker: cluster.worker?.id }) : root;
  guardProcess(log);
  if (cluster.isWorker) return serveAsWorker(config, log, sources);
  if (config.server.workers > 1) return runPrimary(config, log, sources, hooks);

  let app;
  try {
    app = await startApp(config, log, { load: () => loadConfig(sources) });
  } catch (err: unknown) {
    log.fatal({ err }, 'cannot start');
    log.flush();
    process.exit(1);
  }
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
  const running = app;
  process.on('SIGHUP', () => running.reload('SIGHUP'));
  await app.ready;
  if (stopping) return;
  hooks.onListening?.({
    grpcPort: app.grpcPort,
    httpPort: app.httpPort,
    metricsPort: app.metricsPort,
  });
}

/**
 * A cluster worker: the listeners only (the primary serves /metrics from every worker's
 * registry, and health); stops gracefully when the primary sends SIGTERM.
 */
async function serveAsWorker(
  config: AppConfig,
  log: Logger,
  sources: ConfigSources,
): Promise<void> {
  let listeners;
  try {
    listeners = await startListeners(config, log);
  } catch (err: unknown) {
    log.fatal({ err }, 'cannot start');
    log.flush(() => process.exit(1));
    return;
  }
  // Constructing an AggregatorRegistry is what makes a prom-client worker answer the
  // primary's metrics requests; it serves this worker's own registry.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([listeners.registry]);
  const running = listeners;
  // Each worker watches the files itself; the primary passes SIGHUP on.
  const reloader = startReloader(config, () => loadConfig(sources), running, log);
  process.on('SIGHUP', () => reloader.reload('SIGHUP'));
  let stopping = false;
  // Ctrl-C reaches every process of the group: the primary coordinates the stop.
  process.on('SIGINT', () => undefined);
  process.once('SIGTERM', () => {
    stopping = true;
    reloader.close();
    running.markNotServing();
    running.shutdown().then(
      () => log.flush(() => process.exit(0)),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        log.flush(() => process.exit(1));
      },
    );
  });
  // Warm before telling the primary, which reports ready once every worker has told it.
  await running.getReady();
  if (stopping) return;
  running.markServing();
  const message: WorkerListening = {
    type: 'cheq-rti-authz:listening',
    grpcPort: running.grpcPort,
    grpcSecurity: running.grpcSecurity,
    httpPort: running.httpPort,
  };
  process.send?.(message);
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
