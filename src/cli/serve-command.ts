// `cheq-rti-authz [flags]`: load the configuration and run the server in the mode it asks for
// (one process, or a cluster primary and its workers) until SIGTERM/SIGINT, reloading it on
// SIGHUP and on file changes. Bad configuration throws ConfigError before anything listens.

import cluster from 'node:cluster';
import { startApp } from '../app';
import { loadConfig, type AppConfig, type ConfigSources } from '../config/load-config';
import { runUntilSignalled, type Running } from '../lifecycle/run-until-signalled';
import { createLogger, type Logger } from '../observability/logger';
import { startClusterPrimary } from './cluster-primary';
import { startClusterWorker } from './cluster-worker';
import type { ServeHooks } from './serve-hooks';

/** The exit code of a configuration error (ConfigError). */
export const EXIT_CONFIG_ERROR = 2;

/** Runs the server until it has stopped; resolves with the exit code. */
export async function serve(sources: ConfigSources, hooks: ServeHooks = {}): Promise<number> {
  const config = loadConfig(sources);
  const load = (): AppConfig => loadConfig(sources);
  const log = createLogger(config.logLevel);
  if (cluster.isWorker) {
    const workerLog = log.child({ worker: cluster.worker?.id });
    return runUntilSignalled(() => startClusterWorker(config, workerLog, load), {
      log: workerLog,
      // Ctrl-C reaches every process of the group: the primary coordinates the stop.
      stopSignals: ['SIGTERM'],
    });
  }
  if (config.server.workers > 1) {
    return runUntilSignalled(() => startClusterPrimary(config, log, sources, hooks), { log });
  }
  return runUntilSignalled(() => startSingleProcess(config, log, load, hooks), { log });
}

async function startSingleProcess(
  config: AppConfig,
  log: Logger,
  load: () => AppConfig,
  hooks: ServeHooks,
): Promise<Running> {
  const app = await startApp(config, log, { load });
  return {
    ready: app.ready,
    announce() {
      const { grpcPort, httpPort, metricsPort } = app;
      hooks.onListening?.({ grpcPort, httpPort, metricsPort });
    },
    reload: () => app.reload('SIGHUP'),
    async stop(signal) {
      log.info({ signal }, 'shutting down: finishing in-flight checks');
      await app.close();
      await hooks.onStopped?.();
      log.info('stopped');
    },
  };
}
