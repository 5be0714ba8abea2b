// @ts-check
// Interleaved rounds and what they come to: every target driven once per round, the order
// rotating, then per target the median round, the ratios to a reference round by round, and
// what was observed over the rounds.

import { pooledProtection } from './protection.mjs';
import { log } from './processes.mjs';
import { median, round3 } from './stats.mjs';

/**
 * A measured window: load generator output with what observe() and counted() added. The shapes
 * differ by load generator, so the aggregations below read it loosely.
 * @typedef {Record<string, any>} Run
 */
/** @typedef {Record<string, Run>} Round one Run per target key */

/**
 * @typedef {object} Saturation
 * @property {Record<string, Run>} median per target, its median round (by req/s) and more
 * @property {Record<string, { median: number | undefined, rounds: number[] }>} ratio per target,
 *   req/s ÷ the reference's in the same round
 * @property {Round[]} rounds
 */

/**
 * Runs `load` for every target, `count` times; the order rotates from round to round so no
 * target always goes first. Returns one { key: result } per round.
 * @template {{ key: string }} T
 * @param {number} count
 * @param {string} label
 * @param {T[]} targets
 * @param {(target: T, round: number) => Promise<Run>} load
 * @returns {Promise<Round[]>}
 */
export async function rounds(count, label, targets, load) {
  /** @type {Round[]} */
  const all = [];
  for (let round = 0; round < count; round++) {
    /** @type {Round} */
    const results = {};
    for (let i = 0; i < targets.length; i++) {
      const target = /** @type {T} */ (targets[(i + round) % targets.length]);
      log(`${label}: round ${round + 1}/${count}, ${target.key}`);
      results[target.key] = await load(target, round);
    }
    all.push(results);
  }
  return all;
}

/**
 * Saturation rounds → per target the median round (its latency and counters), the req/s of
 * every round and the largest RSS; ratio = median over rounds of req/s ÷ the reference's req/s
 * in the same round.
 * @param {Round[]} all
 * @param {string} refKey
 * @returns {Saturation}
 */
export function saturation(all, refKey) {
  /** @type {Saturation} */
  const out = { median: {}, ratio: {}, rounds: all };
  for (const key of Object.keys(all[0] ?? {})) {
    const runs = all.map(round => /** @type {Run} */ (round[key]));
    const mid = median(runs.map(run => run['reqPerS']));
    out.median[key] = {
      ...runs.find(run => run['reqPerS'] === mid),
      reqPerSRounds: runs.map(run => run['reqPerS']),
      rssMaxMb: Math.max(...runs.map(run => run['rssMaxMb'])),
    };
    const ratios = all.map(round => round3(round[key]?.['reqPerS'] / round[refKey]?.['reqPerS']));
    out.ratio[key] = { median: median(ratios), rounds: ratios };
  }
  return out;
}

/**
 * Fixed-rate rounds (grpc-rate-client) → per target and kind (normal, hang) medians of the
 * percentiles.
 * @param {Round[]} all
 */
export function fixedRate(all) {
  /** @type {{ rounds: Round[], median: Record<string, Run> }} */
  const out = { rounds: all, median: {} };
  /**
   * @param {Run[]} runs
   * @param {'normal' | 'hang'} kind
   */
  const kinds = (runs, kind) => {
    /** @type {import('./load-generators.mjs').RateStats[]} */
    const stats = runs.map(run => run[kind]).filter(Boolean);
    if (stats.length === 0) return undefined;
    /** @type {Record<string, number>} */
    const errors = {};
    for (const s of stats) {
      for (const [name, n] of Object.entries(s.errors)) errors[name] = (errors[name] ?? 0) + n;
    }
    /** @param {keyof import('./stats.mjs').Percentiles} q */
    const at = q => median(stats.map(s => s.latencyMs[q]));
    return {
      sent: stats.reduce((sum, s) => sum + s.sent, 0),
      ok: stats.reduce((sum, s) => sum + s.ok, 0),
      errors,
      ratePerS: stats[0]?.ratePerS,
      latencyMs: {
        p50: at('p50'),
        p90: at('p90'),
        p99: at('p99'),
        p999: at('p999'),
        max: Math.max(...stats.map(s => s.latencyMs.max ?? 0)),
      },
      p99Rounds: stats.map(s => s.latencyMs.p99),
      scheduleLagP99Ms: median(stats.map(s => s.scheduleLagMs.p99)),
    };
  };
  for (const key of Object.keys(all[0] ?? {})) {
    const runs = all.map(round => /** @type {Run} */ (round[key]));
    out.median[key] = {
      normal: kinds(runs, 'normal'),
      ...(runs[0]?.['hang'] ? { hang: kinds(runs, 'hang') } : {}),
      ...observedOverRounds(runs),
      ...(runs[0]?.['hungHeldMs'] ? { hungHeldMs: heldSummary(runs) } : {}),
    };
  }
  return out;
}

/**
 * h2load --rps rounds → per target the medians of its percentiles and the failures summed.
 * @param {Round[]} all
 * @param {number} rate
 */
export function h2loadAtRate(all, rate) {
  /** @type {{ rate: number, rounds: Round[], median: Record<string, Run> }} */
  const out = { rate, rounds: all, median: {} };
  for (const key of Object.keys(all[0] ?? {})) {
    const runs = all.map(round => /** @type {Run} */ (round[key]));
    /** @param {string} q */
    const at = q => median(runs.map(run => run['latencyMs']?.[q]));
    out.median[key] = {
      reqPerS: median(runs.map(run => run['reqPerS'])),
      latencyMs: { p50: at('p50'), p99: at('p99'), p999: at('p999') },
      p99Rounds: runs.map(run => run['latencyMs']?.p99),
      failed: runs.reduce((sum, run) => sum + run['failed'], 0),
      ...observedOverRounds(runs),
    };
  }
  return out;
}

/**
 * What observe() and counted() saw over the rounds: largest RSS, median CPU, summed decisions.
 * @param {Run[]} runs
 */
export function observedOverRounds(runs) {
  /** @type {Record<string, number>} */
  const decisions = {};
  for (const run of runs) {
    for (const [reason, n] of Object.entries(run['decisions'] ?? {})) {
      decisions[reason] = (decisions[reason] ?? 0) + Number(n);
    }
  }
  return {
    rssMaxMb: Math.max(...runs.map(run => run['rssMaxMb'])),
    serverCpuPct: median(runs.map(run => run['serverCpuPct'])),
    coreBusyPct: Object.fromEntries(
      Object.keys(runs[0]?.['coreBusyPct'] ?? {}).map(cpu => [
        cpu,
        median(runs.map(run => run['coreBusyPct'][cpu])),
      ]),
    ),
    ...(runs[0]?.['decisions']
      ? { decisions, protection: pooledProtection(runs.map(run => run['protection'])) }
      : {}),
  };
}

/**
 * The stand-in's view of the hung requests over rounds: median p50/p99, largest max.
 * @param {Run[]} runs
 */
function heldSummary(runs) {
  const held = runs.map(run => run['hungHeldMs']).filter(Boolean);
  return {
    p50: median(held.map(h => h.p50)),
    p99: median(held.map(h => h.p99)),
    p99Rounds: held.map(h => h.p99),
    max: Math.max(...held.map(h => h.max)),
  };
}
