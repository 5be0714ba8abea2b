// Wiring: configuration in, running listeners out. Used by the CLI and by the tests, which
// start the real server in-process on port 0.

import { setTimeout as delay } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { startGrpcServer } from './adapters/grpc/grpc-server';
import { startHttpServer } from './adapters/http/http-server';
import { ConfigReloader } from './config/config-reloader';
import type { AppConfig } from './config/load-config';
import { createLogger, type Logger } from './observability/logger';
import { createMetrics, type Metrics } from './observability/metrics';
import { observeDecisions } from './observability/observe-decisions';
import { startOpsServer } from './observability/ops-server';
import { DEFAULT_SITE, NO_SITE } from './config/sites';
import { buildDecisionChain, endpointsOf } from './decision-chain';
import { CircuitBreaker } from './rti/circuit-breaker';
import { RtiEndpoints } from './rti/rti-endpoints';
import { AdmissionLine } from './load/admission-line';
import { EventLoopMonitor } from './load/event-loop-monitor';
import { VERSION } from './version';
import { getReady, warmUpConfig } from './warmup/get-ready';

/** Answers larger than this are not RTI verdicts. */
const MAX_RTI_RESPONSE_BYTES = 64 * 1024;
/** After a reload, how long an RTI endpoint no site uses any more stays open for older checks. */
const ENDPOINT_LINGER_MS = 30_000;

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
   * Puts a new configuration in use for the checks that start from now on (its restart-only
   * settings are ignored: the reloader refuses a configuration that changes them).
   */
  reconfigure(config: AppConfig): void;
  /** Counts a reload refused. */
  reloadRefused(): void;
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
  /** Reads the configuration again and swaps it in when valid (SIGHUP); see ConfigReloader. */
  reload(trigger: string): void;
  /**
   * Graceful stop (idempotent): report not ready → keep serving for the shutdown delay → stop
   * accepting → finish in-flight checks within the grace period → close the RTI pool.
   */
  shutdown(): Promise<void>;
}

export interface AppOptions {
  /** Reads the configuration again from its sources; without it, nothing reloads. */
  readonly load?: () => AppConfig;
}

/** One process serving everything: the listeners plus metrics and health on METRICS_PORT. */
export async function startApp(
  config: AppConfig,
  log: Logger,
  options: AppOptions = {},
): Promise<RunningApp> {
  for (const warning of config.warnings) log.warn(warning);
  const listeners = await startListeners(config, log);
  const reloader = options.load && startReloader(config, options.load, listeners, log);
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
    reloader?.close();
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
    reload: trigger => reloader?.reload(trigger),
    shutdown: () => (stopped ??= stop()),
  };
}

/** Reloads into `listeners` on file changes (and on `reload()`, for SIGHUP). */
export function startReloader(
  config: AppConfig,
  load: () => AppConfig,
  listeners: Pick<RunningListeners, 'reconfigure' | 'reloadRefused'>,
  log: Logger,
): ConfigReloader {
  return new ConfigReloader({
    initial: config,
    load,
    apply: next => listeners.reconfigure(next),
    onRefused: () => listeners.reloadRefused(),
    log,
  });
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
  // How responsive this process is (the breaker's evidence); its samples also expire the line.
  const loop = new EventLoopMonitor();
  loop.start();
  const admission = config.server.overloadShedding
    ? new AdmissionLine({ limit: Math.min(config.rti.connections, config.rti.maxInFlight) }, loop)
    : undefined;
  const { circuit } = config.rti;
  const endpoints = new RtiEndpoints({
    connections: config.rti.connections,
    maxInFlight: config.rti.maxInFlight,
    maxResponseBytes: MAX_RTI_RESPONSE_BYTES,
    newBreaker: url => {
      if (!circuit) return undefined;
      const rtiEndpoint = url.origin;
      metrics.circuitStateChanged(undefined, 'closed');
      return new CircuitBreaker({
        ...circuit,
        onStateChange(state, previous) {
          metrics.circuitStateChanged(previous, state);
          const fields = { state, previous, openMs: circuit.openMs, rtiEndpoint };
          if (state === 'closed') log.info(fields, 'RTI circuit closed: calling RTI again');
          else log.warn(fields, `RTI circuit ${state}`);
        },
      });
    },
    onDropped: breaker => metrics.circuitStateChanged(breaker?.current, undefined),
  });
  const metrics = createMetrics(
    registry,
    {
      version: VERSION,
      sites: [config.defaultSite ? DEFAULT_SITE : NO_SITE, ...config.sites.map(site => site.name)],
      overloadShedding: admission !== undefined,
      processMetrics: options.processMetrics,
    },
    () => ({
      inFlight: endpoints.inFlight,
      pool: endpoints.poolStats,
      admissionWaiting: admission?.waiting,
    }),
  );
  const chainDeps = {
    endpoints,
    loop,
    admission,
    onLaggingTimeout: () => metrics.rtiCircuitIgnoredTimeouts.inc(),
  };
  // Swapped whole by a reload: a check keeps the chain it started on.
  let chain = buildDecisionChain(config, chainDeps);
  const decide = observeDecisions((attrs, opts) => chain(attrs, opts), metrics, log);
  metrics.configInUse(describeConfig(config));
  let inUse = config;
  let cleanup: NodeJS.Timeout | undefined;
  const reconfigure = (next: AppConfig): void => {
    inUse = next;
    chain = buildDecisionChain(next, chainDeps);
    metrics.configInUse(describeConfig(next));
    // An endpoint no site uses any more closes once the checks that may still call it are done.
    clearTimeout(cleanup);
    cleanup = setTimeout(() => {
      endpoints.keepOnly(endpointsOf(inUse)).catch((err: unknown) => {
        log.warn({ err }, 'closing unused RTI connections failed');
      });
    }, ENDPOINT_LINGER_MS).unref();
  };

  const { server } = config;
  const grpc = await startGrpcServer(
    {
      host: server.host,
      port: server.grpcPort,
      keepaliveTimeMs: server.grpcKeepaliveTimeMs,
      maxConnectionAgeMs: server.grpcMaxConnectionAgeMs,
      maxConcurrentStreams: server.grpcMaxConcurrentStreams,
      maxConnections: server.maxConnections,
      prefaceTimeoutMs: server.httpHeadersTimeoutMs,
      tls: server.grpcTls,
    },
    decide,
    metrics,
    log,
  );
  const http = await startHttpServer(
    {
      host: server.host,
      port: server.httpPort,
      keepAliveTimeoutMs: server.httpKeepAliveTimeoutMs,
      headersTimeoutMs: server.httpHeadersTimeoutMs,
      maxConnections: server.maxConnections,
    },
    decide,
    metrics,
    log,
  );
  let readying: Promise<void> | undefined;
  const readyUp = (): Promise<void> =>
    getReady({
      config,
      rti: endpoints,
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
    await delay(server.shutdownDelayMs);
    await Promise.all([grpc.shutdown(server.shutdownGraceMs), http.close(server.shutdownGraceMs)]);
    clearTimeout(cleanup);
    await endpoints.close();
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
    reconfigure,
    reloadRefused: () => metrics.configReloadFailures.inc(),
    shutdown: () => (stopped ??= stop()),
  };
}

function describeConfig(config: AppConfig): Parameters<Metrics['configInUse']>[0] {
  return { hash: config.hash, mode: config.core.mode, rtiTimeoutMs: config.core.timeoutMs };
}
