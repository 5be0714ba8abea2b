// What a replica does between listening and reporting ready: open connections to RTI ahead of
// traffic (rti_preconnect) and run the warm-up checks (warmup_checks), side by side, each
// bounded in time. It never fails: a replica that cannot reach RTI still serves, failing open.

import { performance } from 'node:perf_hooks';
import type { AppConfig } from '../config/load-config';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { warmUp, type WarmUpTarget } from './warm-up';

/** Longest warm-up; past it the replica reports ready anyway, partly warm. */
const WARMUP_BUDGET_MS = 5000;
/** Longest wait for the connections opened ahead to RTI. */
const PRECONNECT_TIMEOUT_MS = 3000;

export interface ReadyDeps {
  readonly config: AppConfig;
  readonly rti: {
    preconnect(count: number, timeoutMs: number): Promise<{ opened: number; error?: Error }>;
  };
  readonly metrics: Pick<Metrics, 'warmupDuration' | 'rtiReachableAtStart'>;
  readonly log: Logger;
  /** Starts the warm-up's own listeners and decision chain, asking RTI at the given URL. */
  readonly startWarmUpTarget: (rtiEndpoint: URL) => Promise<WarmUpTarget>;
}

export async function getReady(deps: ReadyDeps): Promise<void> {
  await Promise.all([openRtiConnections(deps), runWarmUp(deps)]);
}

async function openRtiConnections({ config, rti, metrics, log }: ReadyDeps): Promise<void> {
  const count = config.rti.preconnect;
  if (count === 0) return;
  const { opened, error } = await rti.preconnect(count, PRECONNECT_TIMEOUT_MS);
  metrics.rtiReachableAtStart.set(opened > 0 ? 1 : 0);
  const rtiEndpoint = config.rti.endpoint.origin;
  if (opened > 0) {
    log.info({ rtiEndpoint, connections: opened }, 'connections to RTI opened ahead of traffic');
    return;
  }
  log.warn(
    { rtiEndpoint, err: error, timeoutMs: PRECONNECT_TIMEOUT_MS },
    'RTI not reachable at start: checks fail open until it is',
  );
}

async function runWarmUp({ config, metrics, log, startWarmUpTarget }: ReadyDeps): Promise<void> {
  const checks = config.server.warmupChecks;
  if (checks === 0) {
    metrics.warmupDuration.set(0);
    return;
  }
  const started = performance.now();
  const elapsedMs = (): number => Math.round(performance.now() - started);
  try {
    const report = await warmUp(checks, WARMUP_BUDGET_MS, startWarmUpTarget);
    const durationMs = elapsedMs();
    metrics.warmupDuration.set(durationMs / 1000);
    const fields = { checks: report.checks, errors: report.errors, durationMs };
    if (report.complete) log.info(fields, 'warm-up finished');
    else {
      log.warn(
        { ...fields, warmupChecks: checks, budgetMs: WARMUP_BUDGET_MS },
        'warm-up ran out of time: ready anyway, partly warm',
      );
    }
  } catch (err: unknown) {
    metrics.warmupDuration.set(elapsedMs() / 1000);
    log.warn({ err, durationMs: elapsedMs() }, 'warm-up failed: ready anyway, cold');
  }
}
