// @ts-check
// Phase rate: ours, (2) and (1) at one fixed rate (BENCH_RATE, or BENCH_RATE_FRACTION of our
// gRPC saturation), open loop, first from the grpc-js client that checks every answer, then
// from h2load --rps, a C client whose own delays weigh less in the percentiles (it cannot read
// grpc-status; our fail_open count stands in for that).

import { fixedRate, h2loadAtRate, rounds } from '../lib/rounds.mjs';
import { median, round3 } from '../lib/stats.mjs';
import { TARGETS } from '../lib/targets.mjs';

/** @typedef {ReturnType<typeof fixedRate>} FixedRate */
/** @typedef {ReturnType<typeof h2loadAtRate>} H2loadAtRate */

/**
 * The fixed rate of the rate and hang phases.
 * @param {import('../lib/knobs.mjs').Knobs} knobs
 * @param {import('../lib/rounds.mjs').Saturation} [grpc] the grpc phase's result
 */
export const fixedRateOf = (knobs, grpc) =>
  knobs.rate || Math.round((grpc?.median['ours']?.['reqPerS'] ?? 0) * knobs.rateFraction);

/**
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {import('../lib/context.mjs').Target[]} targets ours, grpcUndici, grpcBare
 * @param {number} rate checks/s
 */
export async function atFixedRate(bench, targets, rate) {
  const { knobs } = bench;
  const load = { rate, durationS: knobs.latencyDurationS, warmupS: knobs.roundWarmupS };
  const atRate = fixedRate(
    await rounds(knobs.rounds, `gRPC at ${rate}/s (grpc-js client, open loop)`, targets, t =>
      bench.one(t, () => bench.load.rateClient(t.port, load)),
    ),
  );
  const h2loadRps = { rps: rate, durationS: knobs.latencyDurationS, warmupS: knobs.roundWarmupS };
  const atRateH2load = h2loadAtRate(
    await rounds(knobs.rounds, `gRPC at ${rate}/s (h2load --rps)`, targets, t =>
      bench.one(t, () => bench.load.h2load(t.port, h2loadRps)),
    ),
    rate,
  );
  return { atRate, atRateH2load };
}

/**
 * @param {FixedRate} atRate
 * @param {H2loadAtRate} atRateH2load
 * @param {import('../lib/report-table.mjs').TableRows} table
 */
export function rateRows(atRate, atRateH2load, table) {
  const rate = atRate.rounds[0]?.['ours']?.['options'].rate;
  table.rated(`gRPC ours @${rate}/s`, atRate.median['ours'] ?? {});
  table.rated(`gRPC (2) @${rate}/s`, atRate.median['grpcUndici'] ?? {});
  table.rated(`gRPC (1) @${rate}/s`, atRate.median['grpcBare'] ?? {});
  const h2Rate = atRateH2load.rate;
  table.h2Rated(`gRPC ours @${h2Rate}/s h2load`, atRateH2load.median['ours'] ?? {});
  table.h2Rated(`gRPC (2) @${h2Rate}/s h2load`, atRateH2load.median['grpcUndici'] ?? {});
  table.h2Rated(`gRPC (1) @${h2Rate}/s h2load`, atRateH2load.median['grpcBare'] ?? {});
}

/**
 * The added p99 over the RTI call (ours − (2), round by round) and every check answered OK;
 * then the same p99 difference from h2load at the same rate, informative.
 * @param {FixedRate} atRate
 * @param {H2loadAtRate} atRateH2load
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function rateVerdicts(atRate, atRateH2load, add) {
  const { ours, grpcUndici, grpcBare } = atRate.median;
  if (!ours || !grpcUndici || !grpcBare) return;
  const added = atRate.rounds.map(round =>
    round3(round['ours']?.['normal'].latencyMs.p99 - round['grpcUndici']?.['normal'].latencyMs.p99),
  );
  const addedMedian = median(added);
  add(
    `added p99 latency over the RTI call at ${atRate.rounds[0]?.['ours']?.['options'].rate}/s (ours p99 − reference (2) p99, median of rounds)`,
    `${addedMedian} ms`,
    `≤ ${TARGETS.addedP99Ms} ms`,
    Number(addedMedian) <= TARGETS.addedP99Ms,
    `rounds ${added.join(', ')} ms; p99 ours ${ours['normal'].latencyMs.p99}, (2) ${grpcUndici['normal'].latencyMs.p99}, floor (1) ${grpcBare['normal'].latencyMs.p99} ms; p50 ours − (2) ${round3(ours['normal'].latencyMs.p50 - grpcUndici['normal'].latencyMs.p50)} ms`,
  );
  add(
    'every check at the fixed rate answered OK (allow)',
    `${ours['normal'].ok}/${ours['normal'].sent}`,
    'all',
    ours['normal'].ok === ours['normal'].sent,
    `reference (2): ${grpcUndici['normal'].ok}/${grpcUndici['normal'].sent}`,
  );

  /** @param {string} key */
  const p99 = key => atRateH2load.median[key]?.['latencyMs'].p99;
  const addedH2load = atRateH2load.rounds.map(round =>
    round3(round['ours']?.['latencyMs'].p99 - round['grpcUndici']?.['latencyMs'].p99),
  );
  add(
    `added p99 latency, same rate from h2load --rps (ours p99 − reference (2) p99, median of rounds)`,
    `${median(addedH2load)} ms`,
    `≤ ${TARGETS.addedP99Ms} ms`,
    undefined,
    `rounds ${addedH2load.join(', ')} ms; p99 ours ${p99('ours')}, (2) ${p99('grpcUndici')}, floor (1) ${p99('grpcBare')} ms; ours failed open ${atRateH2load.median['ours']?.['decisions']?.fail_open ?? 0}, h2load failed ${atRateH2load.median['ours']?.['failed']}`,
  );
}
