// @ts-check
// What the bench reads from the processes it measures over HTTP: our server's /metrics and
// /readyz, and the RTI stand-in's /stats.

import { setTimeout as sleep } from 'node:timers/promises';
import { fetch } from 'undici';

/**
 * @typedef {object} StandInStats the RTI stand-in's counters (GET /stats)
 * @property {number} verdicts
 * @property {number} bots verdicts about the memory phase's bots (lib/population.mjs)
 * @property {number} people verdicts about its people
 * @property {number} hung
 * @property {number} other
 * @property {number} aborted
 * @property {number} v4
 * @property {number[]} heldMs how long each hung request was held open, since the last GET
 */

/**
 * @typedef {object} RuntimeStats
 * @property {Record<string, { count: number, sumMs: number, over10ms: number }>} gc by kind
 * @property {{ p50?: number, p99?: number, max?: number }} eventLoopDelayMs
 */

/** @param {string} rtiUrl @returns {Promise<StandInStats>} */
export async function standInStats(rtiUrl) {
  const response = await fetch(`${rtiUrl}/stats`);
  return /** @type {Promise<StandInStats>} */ (response.json());
}

/** @param {number} metricsPort */
async function metricsText(metricsPort) {
  return (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
}

/**
 * cheq_authz_decisions_total summed by reason, and fail-opens by cause (fail_open:CAUSE).
 * @param {number} metricsPort
 * @returns {Promise<Record<string, number>>}
 */
export async function decisionsByReason(metricsPort) {
  const text = await metricsText(metricsPort);
  /** @type {Record<string, number>} */
  const byReason = {};
  for (const match of text.matchAll(/^cheq_authz_decisions_total\{([^}]*)\} (\S+)$/gm)) {
    const reason = /reason="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '?';
    byReason[reason] = (byReason[reason] ?? 0) + Number(match[2]);
  }
  for (const match of text.matchAll(/^cheq_authz_fail_open_total\{([^}]*)\} (\S+)$/gm)) {
    const key = `fail_open:${/cause="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '?'}`;
    byReason[key] = (byReason[key] ?? 0) + Number(match[2]);
  }
  return byReason;
}

/** Checks decided (the reasons, not the fail-open causes) in a decisionsByReason() record. */
export const decidedChecks = /** @param {Record<string, number>} decisions */ decisions =>
  Object.entries(decisions)
    .filter(([reason]) => !reason.includes(':'))
    .reduce((sum, [, n]) => sum + n, 0);

/** cheq_authz_checks_in_flight summed over transports. @param {number} metricsPort */
async function checksInFlight(metricsPort) {
  const text = await metricsText(metricsPort);
  let sum = 0;
  for (const match of text.matchAll(/^cheq_authz_checks_in_flight(?:\{[^}]*\})? (\S+)$/gm)) {
    sum += Number(match[1]);
  }
  return sum;
}

/**
 * Waits (at most `timeoutMs`) until our server has settled: no check in flight and no new
 * decision over 50 ms. Before a window, the checks a previous load left behind are not counted
 * in it; after it, those it left behind (streams the client dropped) are.
 * @param {number} metricsPort
 */
export async function settled(metricsPort, timeoutMs = 3000) {
  const until = Date.now() + timeoutMs;
  const total = async () => decidedChecks(await decisionsByReason(metricsPort));
  let previous = await total();
  while (Date.now() < until) {
    await sleep(50);
    const now = await total();
    if (now === previous && (await checksInFlight(metricsPort)) === 0) return;
    previous = now;
  }
}

/**
 * Polls /readyz until it answers 200; resolves with the milliseconds waited.
 * @param {number} metricsPort
 */
export async function readyz(metricsPort, timeoutMs = 60_000) {
  const started = Date.now();
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      await response.arrayBuffer();
      if (response.status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`/readyz not 200 within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/**
 * Heap and external memory as our server reports them (prom-client default metrics), MB.
 * @param {number} metricsPort
 */
export async function memoryMetrics(metricsPort) {
  const text = await metricsText(metricsPort);
  /** @param {string} name */
  const read = name => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return match ? Math.round((Number(match[1]) / 1048576) * 10) / 10 : undefined;
  };
  return {
    heapUsedMb: read('nodejs_heap_size_used_bytes'),
    heapTotalMb: read('nodejs_heap_size_total_bytes'),
    externalMb: read('nodejs_external_memory_bytes'),
  };
}

/**
 * GC pauses (cumulative, by kind) and event-loop delay (since the previous scrape: prom-client
 * resets its histogram on every scrape) from our server's default metrics.
 * @param {number} metricsPort
 * @returns {Promise<RuntimeStats>}
 */
export async function runtimeStats(metricsPort) {
  const text = await metricsText(metricsPort);
  /** @param {string} name */
  const value = (name, labels = '') => {
    const escaped = labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const match = new RegExp(`^${name}${escaped ? `\\{${escaped}\\}` : ''} (\\S+)$`, 'm').exec(
      text,
    );
    return match ? Number(match[1]) : undefined;
  };
  /** @type {RuntimeStats['gc']} */
  const gc = {};
  for (const kind of ['minor', 'major', 'incremental', 'weakcb']) {
    const count = value('nodejs_gc_duration_seconds_count', `kind="${kind}"`);
    if (count === undefined) continue;
    const under10ms = value('nodejs_gc_duration_seconds_bucket', `le="0.01",kind="${kind}"`) ?? 0;
    gc[kind] = {
      count,
      sumMs:
        Math.round((value('nodejs_gc_duration_seconds_sum', `kind="${kind}"`) ?? 0) * 1e4) / 10,
      over10ms: count - under10ms,
    };
  }
  /** @param {number | undefined} seconds */
  const ms = seconds => (seconds === undefined ? undefined : Math.round(seconds * 1e4) / 10);
  return {
    gc,
    eventLoopDelayMs: {
      p50: ms(value('nodejs_eventloop_lag_p50_seconds')),
      p99: ms(value('nodejs_eventloop_lag_p99_seconds')),
      max: ms(value('nodejs_eventloop_lag_max_seconds')),
    },
  };
}

/**
 * The verdict memory's size and cap (cheq_authz_verdict_memory_entries, _max_entries);
 * undefined where the server reports none (a build without the memory).
 * @param {number} metricsPort
 */
export async function verdictMemoryGauges(metricsPort) {
  const text = await metricsText(metricsPort);
  /** @param {string} name */
  const read = name => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  return {
    entries: read('cheq_authz_verdict_memory_entries'),
    maxEntries: read('cheq_authz_verdict_memory_max_entries'),
  };
}
