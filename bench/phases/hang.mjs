// @ts-check
// Phase hang: the RTI stand-in never answers BENCH_HANG_RPS checks/s. First at the fixed rate
// beside them, ours and (2): the hung checks must be allowed at the timeout, the others all
// answered. Then saturation without and with the hung checks alongside, alternately, ours and
// (2): the ratio of the two for ours is the target.

import { fixedRate, rounds, saturation } from '../lib/rounds.mjs';
import { TARGETS, roundsNote } from '../lib/targets.mjs';

/**
 * @typedef {object} HangResults
 * @property {import('./rate.mjs').FixedRate} hangAtRate
 * @property {{ ours: import('../lib/rounds.mjs').Saturation, reference: import('../lib/rounds.mjs').Saturation }} hangSaturation
 */

/**
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {import('../lib/context.mjs').Target[]} targets ours, grpcUndici (and grpcBare, unused)
 * @param {number} rate checks/s of the normal checks
 * @returns {Promise<HangResults>}
 */
export async function hungRti(bench, targets, rate) {
  const { knobs } = bench;
  const withHangs = {
    rate,
    durationS: knobs.latencyDurationS,
    warmupS: knobs.roundWarmupS,
    hangRate: knobs.hangRate,
  };
  const hangAtRate = fixedRate(
    await rounds(
      knobs.rounds,
      `RTI hanging for ${knobs.hangRate}/s, others at ${rate}/s`,
      targets.slice(0, 2),
      t => bench.one(t, () => bench.load.rateClient(t.port, withHangs)),
    ),
  );
  return { hangAtRate, hangSaturation: await hangSaturation(bench, targets) };
}

/**
 * gRPC saturation without and with hung checks alongside, alternately: ours, then (2).
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {import('../lib/context.mjs').Target[]} targets
 */
async function hangSaturation(bench, [ours, reference]) {
  const { knobs } = bench;
  if (!ours || !reference) throw new Error('hang saturation: needs ours and a reference');
  const all = await rounds(
    knobs.rounds,
    `gRPC saturation with and without ${knobs.hangRate}/s hung checks, ours and (2)`,
    [
      { ...ours, key: 'plain' },
      { ...ours, key: 'hung', hangs: true },
      { ...reference, key: 'refPlain' },
      { ...reference, key: 'refHung', hangs: true },
    ],
    t =>
      bench.one(t, async () => {
        const load = bench.load.h2load(t.port, { warmupS: knobs.roundWarmupS });
        if (!t.hangs) return load;
        const hung = bench.load.rateClient(t.port, {
          rate: 0,
          hangRate: knobs.hangRate,
          warmupS: 0,
          durationS: knobs.durationS + knobs.roundWarmupS,
        });
        return { ...(await load), hung: (await hung).hang };
      }),
  );
  // Each server against itself without hangs: (2) shows what the hangs cost any server.
  /** @param {string} plain @param {string} hung */
  const pair = (plain, hung) =>
    saturation(
      all.map(round => ({ plain: round[plain] ?? {}, hung: round[hung] ?? {} })),
      'plain',
    );
  return { ours: pair('plain', 'hung'), reference: pair('refPlain', 'refHung') };
}

/**
 * @param {HangResults} r
 * @param {number} hangRate
 * @param {import('../lib/report-table.mjs').TableRows} table
 */
export function hangRows({ hangAtRate, hangSaturation: sat }, hangRate, table) {
  const rate = hangAtRate.rounds[0]?.['ours']?.['options'].rate;
  const ours = hangAtRate.median['ours'] ?? {};
  const reference = hangAtRate.median['grpcUndici'] ?? {};
  table.rated(`gRPC ours @${rate}/s + hung`, ours);
  table.rated(`  hung checks @${hangRate}/s`, ours, 'hang');
  table.rated(`gRPC (2) @${rate}/s + hung`, reference);
  table.rated(`  hung checks @${hangRate}/s`, reference, 'hang');
  table.sat('gRPC ours sat., no hangs', sat.ours, 'plain');
  table.sat(`gRPC ours sat. + ${hangRate}/s hung`, sat.ours, 'hung');
  table.sat('gRPC (2) sat., no hangs', sat.reference, 'plain');
  table.sat(`gRPC (2) sat. + ${hangRate}/s hung`, sat.reference, 'hung');
}

/**
 * @param {HangResults} r
 * @param {import('./rate.mjs').FixedRate | undefined} atRate the rate phase, for its p99
 * @param {import('../lib/knobs.mjs').Knobs} knobs
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function hangVerdicts({ hangAtRate, hangSaturation }, atRate, knobs, add) {
  const ours = hangAtRate.median['ours'] ?? {};
  const reference = hangAtRate.median['grpcUndici'] ?? {};
  const hung = ours['hang'];
  const refHung = reference['hang'];
  const hungLimit = knobs.timeoutMs + TARGETS.hangSlackP99Ms;
  add(
    `hung RTI: checks allowed at timeout + ≤ ${TARGETS.hangSlackP99Ms} ms p99 (median of rounds)`,
    `${hung.latencyMs.p99} ms, ${hung.ok}/${hung.sent} allowed`,
    `≤ ${hungLimit} ms, all allowed`,
    hung.latencyMs.p99 <= hungLimit && hung.ok === hung.sent,
    `rounds ${hung.p99Rounds.join(', ')} ms; reference (2) with the same hangs: ${refHung.latencyMs.p99} ms, ${refHung.ok}/${refHung.sent}`,
  );
  const held = ours['hungHeldMs'];
  const refHeld = reference['hungHeldMs'];
  if (held) {
    add(
      `hung RTI, as the RTI stand-in sees it: request held until aborted, p99 (median of rounds)`,
      `${held.p99} ms`,
      `≤ ${hungLimit} ms`,
      held.p99 <= hungLimit,
      `rounds ${held.p99Rounds.join(', ')} ms, p50 ${held.p50} ms; reference (2): p50 ${refHeld?.p50}, p99 ${refHeld?.p99} ms`,
    );
  }
  const others = ours['normal'];
  add(
    'hung RTI: the other checks at the fixed rate all answered OK',
    `${others.ok}/${others.sent}, p99 ${others.latencyMs.p99} ms`,
    `all${atRate ? ` (p99 without hangs ${atRate.median['ours']?.['normal'].latencyMs.p99} ms)` : ''}`,
    others.ok === others.sent,
  );
  const hangSat = hangSaturation.ours.ratio['hung'] ?? { median: undefined, rounds: [] };
  const refHangSat = hangSaturation.reference.ratio['hung'] ?? { median: undefined, rounds: [] };
  add(
    `hung RTI (${knobs.hangRate}/s): other checks' saturation throughput / without hangs`,
    hangSat.median,
    `≥ ${TARGETS.hangOthersThroughputRatio}`,
    Number(hangSat.median) >= TARGETS.hangOthersThroughputRatio,
    `${roundsNote(hangSat)}; reference (2) with the same hangs: ${refHangSat.median} (${roundsNote(refHangSat)})`,
  );
}
