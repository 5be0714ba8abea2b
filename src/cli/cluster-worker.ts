// A cluster worker: the check listeners only (the primary serves /metrics from every worker's
// registry, health and the admin endpoint); shares its verdict memory with its siblings through
// the primary; tells the primary once warm, stops gracefully on the primary's SIGTERM.

import { AggregatorRegistry } from 'prom-client';
import { startWorkerApp } from '../app';
import type { AppConfig } from '../config/load-config';
import type { Running } from '../lifecycle/run-until-signalled';
import type { Logger } from '../observability/logger';
import { shareWorkerMemory } from './cluster-memory';
import type { WorkerListening } from './worker-listening';

export async function startClusterWorker(
  config: AppConfig,
  log: Logger,
  load: () => AppConfig,
): Promise<Running> {
  // Each worker watches the files itself; the primary passes SIGHUP on.
  const app = await startWorkerApp(config, log, { load });
  // With Redis, each worker is a replica of its own there: the primary relays only forgets.
  shareWorkerMemory(app, { relay: config.redis === undefined, log });
  // Constructing an AggregatorRegistry is what makes a prom-client worker answer the
  // primary's metrics requests; it serves this worker's own registry.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([app.registry]);
  return {
    // Warm before telling the primary, which reports ready once every worker has told it.
    ready: app.ready,
    announce() {
      const message: WorkerListening = {
        type: 'cheq-rti-authz:listening',
        grpcPort: app.grpcPort,
        grpcSecurity: app.grpcSecurity,
        httpPort: app.httpPort,
      };
      process.send?.(message);
    },
    reload: () => app.reload('SIGHUP'),
    stop: () => app.close(),
  };
}
