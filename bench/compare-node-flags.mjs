// Our server twice, side by side, with two sets of node flags: alternating h2load rounds on
// the server core (saturation, or a fixed rate with BENCH_AB_RPS), the order swapped each
// round, so that a flag is judged by rounds run under the same conditions.
//
//   node bench/compare-node-flags.mjs '--heap-growing-percent=100' \
//        '--heap-growing-percent=100 --no-allocation-site-pretenuring'
//
// Settings: BENCH_ROUNDS (6), BENCH_AB_RPS (0: saturation), and those of bench/harness.mjs.
// Prints each round and the medians: req/s, p50/p99 (h2load's per-request log), RSS, B ÷ A.

import {
  config,
  h2load,
  log,
  median,
  observe,
  round3,
  runSideBySide,
  startOurs,
  startStandIn,
} from './harness.mjs';

const [flagsA, flagsB] = process.argv.slice(2);
if (flagsA === undefined || flagsB === undefined) {
  console.error("usage: node bench/compare-node-flags.mjs '<flags A>' '<flags B>'");
  process.exit(2);
}
const rps = Number(process.env.BENCH_AB_RPS ?? 0);
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
const split = flags => flags.split(' ').filter(Boolean);

runSideBySide(async (work, start) => {
  const standIn = await start(startStandIn());
  const servers = {
    A: await start(startOurs(standIn.url, split(flagsA))),
    B: await start(startOurs(standIn.url, split(flagsB))),
  };
  const results = { A: [], B: [] };
  for (let round = 0; round < rounds; round++) {
    for (const key of round % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
      log(`round ${round + 1}/${rounds}: ${key}`);
      const server = servers[key];
      const out = await observe(server.pid, () =>
        h2load(work.dir, server.info.grpcPort, {
          warmupS: round === 0 ? config.warmupS : config.roundWarmupS,
          ...(rps > 0 ? { rps } : {}),
        }),
      );
      results[key].push(out);
    }
  }
  const row = (label, runs) =>
    `${label}  req/s ${runs.map(r => Math.round(r.reqPerS)).join('/')} (median ${Math.round(median(runs.map(r => r.reqPerS)))}), ` +
    `p50 ${median(runs.map(r => r.latencyMs.p50))} ms, p99 ${runs.map(r => r.latencyMs.p99).join('/')} ms (median ${median(runs.map(r => r.latencyMs.p99))}), ` +
    `RSS max ${Math.max(...runs.map(r => r.rssMaxMb))} MB`;
  console.log(`\n${rps > 0 ? `fixed rate ${rps}/s` : 'saturation'} (h2load), ${rounds} rounds`);
  console.log(row(`A ${flagsA}\n  `, results.A));
  console.log(row(`B ${flagsB}\n  `, results.B));
  const ratios = results.B.map((b, i) => round3(b.reqPerS / results.A[i].reqPerS));
  console.log(`B ÷ A req/s: ${median(ratios)} (rounds ${ratios.join(', ')})`);
});
