// WORKERS > 1: this process forks the workers that serve checks (they share the gRPC and HTTP
// ports through node:cluster), serves /metrics (the workers' metrics, summed), /healthz,
// /readyz and the admin endpoint itself, relays the workers' verdict memory changes
// (cluster-memory.ts), replaces a worker that dies, and stops them all gracefully.

import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { AppConfig, ConfigSources } from '../config/load-config';
import { logListening } from '../lifecycle/log-listening';
import type { Running } from '../lifecycle/run-until-signalled';
import { adminEndpoint } from '../observability/admin-endpoint';
import type { Logger } from '../observability/logger';
import { startOpsServer } from '../observability/ops-server';
import { ClusterMemory } from './cluster-memory';
import type { ListeningPorts, ServeHooks } from './serve-hooks';
import { isWorkerListening } from './worker-listening';

const RESPAWN_DELAY_MS = 1000;

export async function startClusterPrimary(
  config: AppConfig,
  log: Logger,
  sources: ConfigSources,
  hooks: ServeHooks,
): Promise<Running> {
  for (const warning of config.warnings) log.warn(warning);
  if (config.challengeFallback) log.warn(config.challengeFallback);
  const { server } = config;
  const aggregator = new AggregatorRegistry();
  const listening = new Set<number>();
  const workers = (): (Worker | undefined)[] => Object.values(cluster.workers ?? {});
  const alive = (): Worker[] => workers().filter((w): w is Worker => w !== undefined);
  const memory = new ClusterMemory(alive, () => alive().filter(w => listening.has(w.id)), log);
  const ops = await startOpsServer(
    server.host,
    server.metricsPort,
    { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() },
    log,
    'warming up',
    config.adminToken === undefined
      ? undefined
      : adminEndpoint({
          token: config.adminToken,
          forget: request => memory.forget(request),
          shared: config.redis ? 'redis' : 'cluster',
          log,
        }),
  );

  let stopping = false;
  let ports: ListeningPorts | undefined;
  // Settled by the cluster events below: every worker listening, every worker gone.
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>(resolve => (onReady = resolve));
  let onAllExited: () => void = () => undefined;
  // Workers read the same configuration: the same flags, the same (possibly adjusted) env.
  cluster.setupPrimary({ args: [...sources.args] });
  const env = Object.fromEntries(
    Object.entries(sources.env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const fork = (): Worker => cluster.fork(env);

  cluster.on('message', (worker, message: unknown) => {
    if (memory.onMessage(worker, message) || !isWorkerListening(message)) return;
    listening.add(worker.id);
    if (listening.size < server.workers || stopping) return;
    ops.markReady();
    if (ports) return;
    ports = { grpcPort: message.grpcPort, httpPort: message.httpPort, metricsPort: ops.port };
    logListening(log, config, {
      workers: server.workers,
      grpcPort: message.grpcPort,
      grpcSecurity: message.grpcSecurity,
      httpPort: message.httpPort,
      metricsPort: ops.port,
    });
    onReady();
  });

  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    memory.onExit(worker);
    if (stopping) {
      // Not `cluster.workers` being empty: a worker stays listed until its IPC channel has
      // closed too, which can come after its 'exit' event, and then no event would follow.
      if (workers().every(w => w?.isDead() ?? true)) onAllExited();
      return;
    }
    // A worker should never die on its own: replace it, and stay unready until it is warm.
    ops.markNotReady('warming up');
    log.error({ worker: worker.id, code, signal }, 'worker died; starting a new one');
    setTimeout(() => {
      if (!stopping) fork();
    }, RESPAWN_DELAY_MS).unref();
  });

  for (let i = 0; i < server.workers; i++) fork();
  return {
    ready,
    announce() {
      if (ports) hooks.onListening?.(ports);
    },
    // Every listening worker reloads its configuration (they also watch the files themselves);
    // one still starting reads it fresh, and might not handle SIGHUP yet.
    reload() {
      log.info({ workers: listening.size }, 'SIGHUP: workers reload the configuration');
      for (const worker of workers()) {
        if (worker && listening.has(worker.id)) worker.process.kill('SIGHUP');
      }
    },
    async stop(signal) {
      stopping = true;
      ops.markNotReady();
      log.info(
        { signal, workers: listening.size },
        'shutting down: workers finish in-flight checks',
      );
      const running = workers();
      const exited = new Promise<void>(resolve => (onAllExited = resolve));
      for (const worker of running) worker?.process.kill('SIGTERM');
      if (running.length > 0) await exited;
      await ops.close();
      await hooks.onStopped?.();
      log.info('stopped');
    },
    stopNow(signal) {
      log.warn({ signal }, 'second signal: stopping the workers now');
      for (const worker of workers()) worker?.process.kill('SIGKILL');
    },
  };
}
