// Wiring: configuration in, running servers out (the decision service, the gRPC and HTTP
// listeners over it and, except in a cluster worker, the metrics and health server), with one
// close(). Used by the CLI and by the tests, which start the real server in-process on port 0.

import { setTimeout as delay } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { startCheckListeners, type CheckListeners } from './check-listeners';
import type { AppConfig } from './config/load-config';
import { DecisionService } from './decision-service';
import { logListening } from './lifecycle/log-listening';
import type { ForgetOutcome, ForgetRequest } from './memory/forget-request';
import type { MemoryChange, VerdictMemory } from './memory/verdict-memory';
import { adminEndpoint, type AdminHandler } from './observability/admin-endpoint';
import type { Logger } from './observability/logger';
import { startOpsServer, type RunningOpsServer } from './observability/ops-server';
import { startWarmUpTarget } from './warmup/warm-up-target';

export interface AppOptions {
  /** Reads the configuration again from its sources; without it, nothing reloads. */
  readonly load?: () => AppConfig;
}

/** The check listeners of a cluster worker: its primary serves metrics and health. */
export interface RunningWorkerApp {
  readonly grpcPort: number;
  readonly grpcSecurity: string;
  readonly httpPort: number;
  /** This process's metrics, which the primary collects. */
  readonly registry: Registry;
  /** This process's verdict memory: a cluster worker shares its changes through the primary. */
  readonly memory: VerdictMemory;
  /** An operator's forget on this process's memory (the primary's admin endpoint sends it). */
  forget(request: ForgetRequest): ForgetOutcome;
  /** A sibling worker's change, relayed by the primary. */
  applyPeerChange(change: MemoryChange): void;
  /**
   * Resolves once connections to RTI are open, warm-up has run and gRPC health says SERVING,
   * or once close() has started instead. Checks are answered meanwhile.
   */
  readonly ready: Promise<void>;
  /** Reads the configuration again and swaps it in when valid (SIGHUP); see ConfigReloader. */
  reload(trigger: string): void;
  /**
   * Graceful stop (idempotent): report not ready → keep serving for the shutdown delay → stop
   * accepting → finish in-flight checks within the grace period → close the RTI pools.
   */
  close(): Promise<void>;
}

/** One process serving everything: the check listeners plus metrics and health. */
export interface RunningApp extends RunningWorkerApp {
  readonly metricsPort: number;
}

export async function startApp(
  config: AppConfig,
  log: Logger,
  options: AppOptions = {},
): Promise<RunningApp> {
  for (const warning of config.warnings) log.warn(warning);
  if (config.challengeFallback) log.warn(config.challengeFallback);
  const { server } = config;
  const registry = new Registry();
  const service = new DecisionService(config, { registry, log, load: options.load });
  const listeners = await startCheckListeners(server, service, log).catch(async (err: unknown) => {
    await service.close();
    throw err;
  });
  const admin = adminOf(config, service, log);
  const ops = await startOpsServer(
    server.host,
    server.metricsPort,
    registry,
    log,
    'warming up',
    admin,
  )
    // The metrics port was taken: nothing started may keep the process alive.
    .catch(async (err: unknown) => {
      await listeners.close();
      await service.close();
      throw err;
    });
  const at = {
    grpcPort: listeners.grpcPort,
    grpcSecurity: listeners.grpcSecurity,
    httpPort: listeners.httpPort,
    metricsPort: ops.port,
  };
  log.info({ ...at, warmupChecks: server.warmupChecks }, 'warming up before reporting ready');
  return {
    ...at,
    ...handleOf(config, {
      service,
      listeners,
      registry,
      ops,
      onReady: () => logListening(log, config, at),
    }),
  };
}

export async function startWorkerApp(
  config: AppConfig,
  log: Logger,
  options: AppOptions = {},
): Promise<RunningWorkerApp> {
  const registry = new Registry();
  const service = new DecisionService(config, { registry, log, load: options.load });
  const listeners = await startCheckListeners(config.server, service, log).catch(
    async (err: unknown) => {
      await service.close();
      throw err;
    },
  );
  return {
    grpcPort: listeners.grpcPort,
    grpcSecurity: listeners.grpcSecurity,
    httpPort: listeners.httpPort,
    ...handleOf(config, { service, listeners, registry }),
  };
}

interface StartedParts {
  readonly service: DecisionService;
  readonly listeners: CheckListeners;
  readonly registry: Registry;
  readonly ops?: RunningOpsServer;
  /** Told once ready (not when close() came first). */
  readonly onReady?: () => void;
}

/** The handle over the parts started: ready after warm-up, reload, and the graceful stop. */
function handleOf(
  config: AppConfig,
  { service, listeners, registry, ops, onReady }: StartedParts,
): Pick<
  RunningWorkerApp,
  'registry' | 'memory' | 'forget' | 'applyPeerChange' | 'ready' | 'reload' | 'close'
> {
  let closed: Promise<void> | undefined;
  const ready = service
    .getReady(emulator => startWarmUpTarget(config, emulator))
    .then(() => {
      if (closed) return;
      listeners.markServing();
      ops?.markReady();
      onReady?.();
    });
  const close = async (): Promise<void> => {
    service.stopWatching();
    listeners.markNotServing();
    ops?.markNotReady();
    await delay(config.server.shutdownDelayMs);
    await listeners.close();
    await service.close();
    await ops?.close();
  };
  return {
    registry,
    memory: service.memory,
    forget: request => service.forget(request),
    applyPeerChange: change => service.applyPeerChange(change),
    ready,
    reload: trigger => service.reload(trigger),
    close: () => (closed ??= close()),
  };
}

/** The admin endpoint of a single process; undefined without an admin token. */
function adminOf(
  config: AppConfig,
  service: DecisionService,
  log: Logger,
): AdminHandler | undefined {
  if (config.adminToken === undefined) return undefined;
  return adminEndpoint({
    token: config.adminToken,
    forget: request => Promise.resolve(service.forget(request)),
    shared: config.redis ? 'redis' : 'local',
    log,
  });
}
