// WORKERS > 1: this process forks the workers that serve checks (they share the gRPC and HTTP
// ports through node:cluster), serves /metrics (the workers' metrics, summed), /healthz and
// /readyz itself, replaces a worker that dies, and stops them all gracefully on SIGTERM/SIGINT.

import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { AppConfig, ConfigSources } from '../config/load-config';
import type { Logger } from '../observability/logger';
import { startOpsServer } from '../observability/ops-server';
import { VERSION } from '../version';
import type { ServeHooks } from './serve-command';

/** What a worker tells the primary once its listeners are bound and it has warmed up. */
export interface WorkerListening {
  readonly type: 'cheq-rti-authz:listening';
  readonly grpcPort: number;
  readonly grpcSecurity: string;
  readonly httpPort: number;
}

const RESPAWN_DELAY_MS = 1000;

export function isWorkerListening(message: unknown): message is WorkerListening {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'cheq-rti-authz:listening'
  );
}

export async function runPrimary(
  config: AppConfig,
  log: Logger,
  sources: ConfigSources,
  hooks: ServeHooks,
): Promise<void> {
  for (const warning of config.warnings) log.warn(warning);
  const { server } = config;
  const aggregator = new AggregatorRegistry();
  const ops = await startOpsServer(
    server.host,
    server.metricsPort,
    { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() },
    log,
    'warming up',
  );

  const listening = new Set<number>();
  let stopping = false;
  let announced = false;
  // Workers read the same configuration: the same flags, the same (possibly adjusted) env.
  cluster.setupPrimary({ args: [...sources.args] });
  const env = Object.fromEntries(
    Object.entries(sources.env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const fork = (): Worker => cluster.fork(env);

  cluster.on('message', (worker, message: unknown) => {
    if (!isWorkerListening(message)) return;
    listening.add(worker.id);
    if (listening.size < server.workers || stopping) return;
    ops.markReady();
    if (announced) return;
    announced = true;
    log.info(
      {
        version: VERSION,
        mode: config.core.mode,
        workers: server.workers,
        grpcPort: message.grpcPort,
        grpcSecurity: message.grpcSecurity,
        httpPort: message.httpPort,
        metricsPort: ops.port,
        rtiEndpoint: config.rti.endpoint.origin,
        timeoutMs: config.core.timeoutMs,
      },
      'cheq-rti-authz listening',
    );
    hooks.onListening?.({
      grpcPort: message.grpcPort,
      httpPort: message.httpPort,
      metricsPort: ops.port,
    });
  });

  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    if (stopping) {
      // Not `cluster.workers` being empty: a worker stays listed until its IPC channel has
      // closed too, which can come after its 'exit' event, and then no event would follow.
      if (Object.values(cluster.workers ?? {}).every(w => w?.isDead() ?? true)) void finish();
      return;
    }
    // A worker should never die on its own: replace it, and stay unready until it is warm.
    ops.markNotReady('warming up');
    log.error({ worker: worker.id, code, signal }, 'worker died; starting a new one');
    setTimeout(() => {
      if (!stopping) fork();
    }, RESPAWN_DELAY_MS).unref();
  });

  const finish = async (): Promise<void> => {
    await ops.close();
    await hooks.onStopped?.();
    log.info('stopped');
    log.flush(() => process.exit(0));
  };

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: stopping the workers now');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      return;
    }
    stopping = true;
    ops.markNotReady();
    log.info({ signal, workers: listening.size }, 'shutting down: workers finish in-flight checks');
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) void finish();
    for (const worker of workers) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Every worker reloads its configuration (they also watch the files themselves).
  process.on('SIGHUP', () => {
    log.info({ workers: listening.size }, 'SIGHUP: workers reload the configuration');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  });

  for (let i = 0; i < server.workers; i++) fork();
}
