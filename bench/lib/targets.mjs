// @ts-check
// The targets of the issue the bench gives a verdict on; ratios compare with the reference of
// the same transport.

import { protectedNote } from './protection.mjs';

export const TARGETS = {
  throughputRatio: 0.9,
  addedP99Ms: 1,
  hangSlackP99Ms: 5,
  hangOthersThroughputRatio: 0.9,
  rssMb: 150,
  rssGrowthRatio: 0.1,
  freshProtectedShare: 0.99,
  steadyProtectedShare: 0.999,
  overloadVerdictsRatio: 0.9,
  /** Issue 23: bot requests blocked while RTI refuses, hangs, or at 150 % of capacity. */
  memoryBotsBlockedShare: 0.95,
  /** Issue 23: memory never blocks a person RTI does not block (RTI blocks none here). */
  memoryPeopleBlockedPct: 0,
  /** Issue 23: a bot blocked by one replica is blocked by another within this. */
  memorySyncMs: 1000,
};

/** "rounds 0.93, 0.91, …" @param {{ rounds: unknown[] }} ratio */
export const roundsNote = ratio => `rounds ${ratio.rounds.join(', ')}`;

/**
 * Our saturation throughput ÷ the reference's (median of the per-round ratios) ≥ the target.
 * @param {import('./rounds.mjs').Saturation} summary
 * @param {string} label
 * @param {import('./report-table.mjs').AddVerdict} add
 */
export function throughputVerdict(summary, label, add) {
  const ratio = summary.ratio['ours'] ?? { median: undefined, rounds: [] };
  add(
    label,
    ratio.median,
    `≥ ${TARGETS.throughputRatio}`,
    Number(ratio.median) >= TARGETS.throughputRatio,
    `${roundsNote(ratio)}; ours protected ${protectedNote(summary.median['ours'] ?? {})}`,
  );
}
