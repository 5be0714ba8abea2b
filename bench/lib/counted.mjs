// @ts-check
// One counted window: what the RTI stand-in and (for our server) the decision counters and the
// runtime saw while a load ran, as deltas of their counters scraped before and after it.

import { protection } from './protection.mjs';
import { decisionsByReason, runtimeStats, settled, standInStats } from './scrape.mjs';
import { percentilesOf } from './stats.mjs';

/**
 * @typedef {object} RtiCounted
 * @property {Record<string, number>} rtiCalls the stand-in's counters, changed ones only
 * @property {Partial<import('./stats.mjs').Percentiles>} [hungHeldMs] how long the hung
 *   requests were held open until the server aborted them, as the stand-in saw it
 */

/**
 * @typedef {object} ServerCounted
 * @property {Record<string, number>} decisions decisionsByReason() delta
 * @property {import('./protection.mjs').Protection} protection
 * @property {import('./scrape.mjs').RuntimeStats['gc']} gc
 * @property {import('./scrape.mjs').RuntimeStats['eventLoopDelayMs']} eventLoopDelayMs
 */

/**
 * The stand-in's counters, without its record of hung requests.
 * @param {import('./scrape.mjs').StandInStats} stats
 */
const countersOf = ({ verdicts, bots, people, hung, other, aborted, v4 }) => ({
  verdicts,
  bots,
  people,
  hung,
  other,
  aborted,
  v4,
});

/**
 * The changed counters.
 * @param {Record<string, number>} after
 * @param {Record<string, number>} before
 */
function delta(after, before) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

/**
 * @param {import('./scrape.mjs').RuntimeStats['gc']} after
 * @param {import('./scrape.mjs').RuntimeStats['gc']} before
 */
function gcDelta(after, before) {
  /** @type {import('./scrape.mjs').RuntimeStats['gc']} */
  const out = {};
  for (const [kind, a] of Object.entries(after)) {
    const b = before[kind] ?? { count: 0, sumMs: 0, over10ms: 0 };
    if (a.count === b.count) continue;
    out[kind] = {
      count: a.count - b.count,
      sumMs: Math.round((a.sumMs - b.sumMs) * 10) / 10,
      over10ms: a.over10ms - b.over10ms,
    };
  }
  return out;
}

/**
 * Wraps a load: stand-in calls made (and, with our server's metrics port, its decisions by
 * reason, protected share, GC and event-loop delay) during it.
 * @template {object} T
 * @param {string} rtiUrl
 * @param {number | undefined} metricsPort
 * @param {() => Promise<T>} work
 * @returns {Promise<T & RtiCounted & Partial<ServerCounted>>}
 */
export async function counted(rtiUrl, metricsPort, work) {
  // Also resets the stand-in's record of hung requests.
  if (metricsPort) await settled(metricsPort);
  const rtiBefore = countersOf(await standInStats(rtiUrl));
  const decisionsBefore = metricsPort ? await decisionsByReason(metricsPort) : {};
  const runtimeBefore = metricsPort ? await runtimeStats(metricsPort) : undefined;
  const result = await work();
  if (metricsPort) await settled(metricsPort);
  const rtiAfterStats = await standInStats(rtiUrl);
  const { heldMs } = rtiAfterStats;
  /** @type {RtiCounted} */
  const rti = {
    rtiCalls: delta(countersOf(rtiAfterStats), rtiBefore),
    ...(heldMs.length > 0 ? { hungHeldMs: percentilesOf(heldMs) } : {}),
  };
  if (!metricsPort || !runtimeBefore) return { ...result, ...rti };
  const runtimeAfter = await runtimeStats(metricsPort);
  const decisions = delta(await decisionsByReason(metricsPort), decisionsBefore);
  return {
    ...result,
    ...rti,
    decisions,
    protection: protection(decisions, /** @type {{ started?: number, done?: number }} */ (result)),
    gc: gcDelta(runtimeAfter.gc, runtimeBefore.gc),
    eventLoopDelayMs: runtimeAfter.eventLoopDelayMs,
  };
}
