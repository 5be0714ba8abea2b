// Wiring: configuration in, running listeners out. Used by the CLI and by the tests, which
// start the real server in-process on port 0.

import { setTimeout } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { startGrpcServer } from './adapters/grpc/grpc-server';
import { startHttpServer } from './adapters/http/http-server';
import type { AppConfig } from './config/load-config';
import { createDecide } from './core/decide';
import type { Logger } from './observability/logger';
import { createMetrics } from './observability/metrics';
import { observeDecisions } from './observability/observe-decisions';
import { startOpsServer } from './observability/ops-server';
import { RtiClient } from './rti/rti-client';
import { PACKAGE_NAME, VERSION } from './version';

/** Answers larger than this are not RTI verdicts. */
const MAX_RTI_RESPONSE_BYTES = 64 * 1024;

export interface RunningApp {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly registry: Registry;
  /**
   * Graceful stop (idempotent): report not ready → keep serving for the shutdown delay → stop accepting →
   * finish in-flight checks within the grace period → close the RTI pool.
   */
  shutdown(): Promise<void>;
}

export async function startApp(config: AppConfig, log: Logger): Promise<RunningApp> {
  for (const warning of config.warnings) log.warn(warning);

  const registry = new Registry();
  const metrics = createMetrics(registry, {
    version: VERSION,
    mode: config.core.mode,
    rtiTimeoutMs: config.core.timeoutMs,
  });
  const rti = new RtiClient({
    endpoint: config.rti.endpoint,
    apiKey: config.rti.apiKey,
    tagHash: config.rti.tagHash,
    connections: config.rti.connections,
    maxResponseBytes: MAX_RTI_RESPONSE_BYTES,
    middlewareVersion: `${PACKAGE_NAME}_${VERSION}`,
  });
  const decide = observeDecisions(createDecide(config.core, rti), metrics, log);

  const { server } = config;
  const grpc = await startGrpcServer(
    {
      host: server.host,
      port: server.grpcPort,
      keepaliveTimeMs: server.grpcKeepaliveTimeMs,
      maxConnectionAgeMs: server.grpcMaxConnectionAgeMs,
    },
    decide,
    log,
  );
  const http = await startHttpServer(
    {
      host: server.host,
      port: server.httpPort,
      keepAliveTimeoutMs: server.httpKeepAliveTimeoutMs,
    },
    decide,
    metrics,
    log,
  );
  const ops = await startOpsServer(server.host, server.metricsPort, registry, log);
  log.info(
    {
      version: VERSION,
      mode: config.core.mode,
      grpcPort: grpc.port,
      httpPort: http.port,
      metricsPort: ops.port,
      rtiEndpoint: config.rti.endpoint.origin,
      timeoutMs: config.core.timeoutMs,
    },
    'cheq-rti-authz listening',
  );

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    grpc.markNotServing();
    ops.markNotReady();
    await setTimeout(server.shutdownDelayMs);
    await Promise.all([grpc.shutdown(server.shutdownGraceMs), http.close(server.shutdownGraceMs)]);
    await rti.close();
    await ops.close();
  };
  return {
    grpcPort: grpc.port,
    httpPort: http.port,
    metricsPort: ops.port,
    registry,
    shutdown: () => (stopped ??= stop()),
  };
}
