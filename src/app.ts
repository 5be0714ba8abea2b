// Wiring: configuration in, running listeners out. Used by the CLI and by the tests, which
// start the real server in-process on port 0.

import { setTimeout } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { startGrpcServer } from './adapters/grpc/grpc-server';
import { startHttpServer } from './adapters/http/http-server';
import type { AppConfig } from './config/load-config';
import { createDecide } from './core/decide';
import { createLogger, type Logger } from './observability/logger';
import { createMetrics } from './observability/metrics';
import { observeDecisions } from './observability/observe-decisions';
import { startOpsServer } from './observability/ops-server';
import { CircuitBreaker } from './rti/circuit-breaker';
import { CircuitBreakingRti } from './rti/circuit-breaking-rti';
import { RtiClient } from './rti/rti-client';
import { WIRE_FORMATS } from './rti/wire-formats';
import { AdmissionLine } from './load/admission-line';
import { EventLoopMonitor } from './load/event-loop-monitor';
import { PACKAGE_NAME, VERSION } from './version';
import { getReady, warmUpConfig } from './warmup/get-ready';

/** Answers larger than this are not RTI verdicts. */
const MAX_RTI_RESPONSE_BYTES = 64 * 1024;

/** The authorization listeners (gRPC and HTTP) on the decision core, without metrics server. */
export interface RunningListeners {
  readonly grpcPort: number;
  readonly grpcSecurity: string;
  readonly httpPort: number;
  readonly registry: Registry;
  /**
   * Opens connections to RTI ahead of traffic and runs the warm-up checks (idempotent; never
   * rejects). Checks are answered meanwhile; health says NOT_SERVING until markServing.
   */
  getReady(): Promise<void>;
  /** gRPC health reports SERVING from now on (unless markNotServing was called). */
  markServing(): void;
  /** gRPC health reports NOT_SERVING from now on. */
  markNotServing(): void;
  /**
   * Graceful stop (idempotent): keep serving for the shutdown delay → stop accepting → finish
   * in-flight checks within the grace period → close the RTI pool.
   */
  shutdown(): Promise<void>;
}

export interface RunningApp {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly registry: Registry;
  /** Resolves once warmed up and reporting ready, or once shutdown has started instead. */
  readonly ready: Promise<void>;
  /**
   * Graceful stop (idempotent): report not ready → keep serving for the shutdown delay → stop
   * accepting → finish in-flight checks within the grace period → close the RTI pool.
   */
  shutdown(): Promise<void>;
}

/** One process serving everything: the listeners plus metrics and health on METRICS_PORT. */
export async function startApp(config: AppConfig, log: Logger): Promise<RunningApp> {
  for (const warning of config.warnings) log.warn(warning);
  const listeners = await startListeners(config, log);
  const { server } = config;
  const ops = await startOpsServer(
    server.host,
    server.metricsPort,
    listeners.registry,
    log,
    'warming up',
  );
  const ports = {
    grpcPort: listeners.grpcPort,
    grpcSecurity: listeners.grpcSecurity,
    httpPort: listeners.httpPort,
    metricsPort: ops.port,
  };
  log.info({ ...ports, warmupChecks: server.warmupChecks }, 'warming up before reporting ready');
  let stopped: Promise<void> | undefined;
  const ready = listeners.getReady().then(() => {
    if (stopped) return;
    listeners.markServing();
    ops.markReady();
    log.info(
      {
        version: VERSION,
        mode: config.core.mode,
        ...ports,
        rtiEndpoint: config.rti.endpoint.origin,
        timeoutMs: config.core.timeoutMs,
      },
      'cheq-rti-authz listening',
    );
  });
  const stop = async (): Promise<void> => {
    listeners.markNotServing();
    ops.markNotReady();
    await listeners.shutdown();
    await ops.close();
  };
  return {
    grpcPort: listeners.grpcPort,
    httpPort: listeners.httpPort,
    metricsPort: ops.port,
    registry: listeners.registry,
    ready,
    shutdown: () => (stopped ??= stop()),
  };
}

export interface ListenerOptions {
  /** Node's process metrics in the registry (default true); false for warm-up's throwaway one. */
  readonly processMetrics?: boolean;
}

/** The gRPC and HTTP listeners, the decision core and the RTI client, with their metrics. */
export async function startListeners(
  config: AppConfig,
  log: Logger,
  options: ListenerOptions = {},
): Promise<RunningListeners> {
  const registry = new Registry();
  const rtiClient = new RtiClient({
    endpoint: config.rti.endpoint,
    wire: WIRE_FORMATS[config.core.apiVersion],
    apiKey: config.rti.apiKey,
    tagHash: config.rti.tagHash,
    connections: config.rti.connections,
    maxResponseBytes: MAX_RTI_RESPONSE_BYTES,
    maxInFlight: config.rti.maxInFlight,
    middlewareVersion: `${PACKAGE_NAME}_${VERSION}`,
  });
  // How responsive this process is (the breaker's evidence); its samples also expire the line.
  const loop = new EventLoopMonitor();
  loop.start();
  const admission = config.server.overloadShedding
    ? new AdmissionLine({ limit: Math.min(config.rti.connections, config.rti.maxInFlight) }, loop)
    : undefined;
  const { circuit } = config.rti;
  const breaker =
    circuit &&
    new CircuitBreaker({
      ...circuit,
      onStateChange(state, previous) {
        metrics.setCircuitState(state);
        const fields = { state, previous, openMs: circuit.openMs };
        if (state === 'closed') log.info(fields, 'RTI circuit closed: calling RTI again');
        else log.warn(fields, `RTI circuit ${state}`);
      },
    });
  const rti = breaker
    ? new CircuitBreakingRti(rtiClient, breaker, loop, () =>
        metrics.rtiCircuitIgnoredTimeouts.inc(),
      )
    : rtiClient;
  const metrics = createMetrics(
    registry,
    {
      version: VERSION,
      mode: config.core.mode,
      rtiTimeoutMs: config.core.timeoutMs,
      overloadShedding: admission !== undefined,
      processMetrics: options.processMetrics,
    },
    () => ({
      inFlight: rtiClient.inFlight,
      pool: rtiClient.poolStats,
      admissionWaiting: admission?.waiting,
    }),
  );
  const decide = observeDecisions(
    createDecide(config.core, rti, admission ? { admission } : {}),
    metrics,
    log,
  );

  const { server } = config;
  const grpc = await startGrpcServer(
    {
      host: server.host,
      port: server.grpcPort,
      keepaliveTimeMs: server.grpcKeepaliveTimeMs,
      maxConnectionAgeMs: server.grpcMaxConnectionAgeMs,
      tls: server.grpcTls,
    },
    decide,
    log,
  );
  const http = await startHttpServer(
    {
      host: server.host,
      port: server.httpPort,
      keepAliveTimeoutMs: server.httpKeepAliveTimeoutMs,
      headersTimeoutMs: server.httpHeadersTimeoutMs,
    },
    decide,
    metrics,
    log,
  );
  let readying: Promise<void> | undefined;
  const readyUp = (): Promise<void> =>
    getReady({
      config,
      rti: rtiClient,
      metrics,
      log,
      // Its own listeners and chain, logging at the same level into nothing: the log calls of
      // a check are part of its path, the lines themselves would be noise.
      startWarmUpTarget: emulator =>
        startListeners(
          warmUpConfig(config, emulator),
          createLogger(config.logLevel, { write: () => undefined }),
          { processMetrics: false },
        ),
    });
  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    grpc.markNotServing();
    await setTimeout(server.shutdownDelayMs);
    await Promise.all([grpc.shutdown(server.shutdownGraceMs), http.close(server.shutdownGraceMs)]);
    await rtiClient.close();
    loop.stop();
  };
  return {
    grpcPort: grpc.port,
    grpcSecurity: grpc.security,
    httpPort: http.port,
    registry,
    getReady: () => (readying ??= readyUp()),
    markServing: () => grpc.markServing(),
    markNotServing: () => grpc.markNotServing(),
    shutdown: () => (stopped ??= stop()),
  };
}
