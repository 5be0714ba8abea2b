// @ts-check
// Our server twice, side by side, with two sets of node flags: alternating h2load rounds on
// the server core (saturation, or a fixed rate with BENCH_AB_RPS), the order swapped each
// round, so that a flag is judged by rounds run under the same conditions.
//
//   node bench/compare-node-flags.mjs '--heap-growing-percent=100' \
//        '--heap-growing-percent=100 --no-allocation-site-pretenuring'
//
// Prints each round and the medians: req/s, p50/p99 (h2load's per-request log), RSS, B ÷ A.

import { loadGenerators } from './lib/load-generators.mjs';
import { observe } from './lib/observe.mjs';
import { log } from './lib/processes.mjs';
import { serverStarters } from './lib/servers.mjs';
import { runSideBySide } from './lib/side-by-side.mjs';
import { median, round3 } from './lib/stats.mjs';

const USAGE = `usage: node bench/compare-node-flags.mjs '<flags A>' '<flags B>'
settings: BENCH_ROUNDS (6), BENCH_AB_RPS (0: saturation), the h2load and core settings:
node bench/run.mjs --help`;

const argv = process.argv.slice(2);
const [flagsA, flagsB] = argv;
if (argv.includes('--help')) {
  console.log(USAGE);
} else if (flagsA === undefined || flagsB === undefined || argv.length > 2) {
  console.error(USAGE);
  process.exitCode = 2;
} else {
  /** @param {string} flags */
  const split = flags => flags.split(' ').filter(Boolean);
  runSideBySide('compare-node-flags', async (knobs, workDir, start) => {
    const { h2load } = loadGenerators(knobs, workDir);
    const servers = serverStarters(knobs);
    const { abRps: rps, rounds } = knobs;
    const standIn = await start(servers.standIn());
    const ours = {
      A: await start(servers.ours(standIn.url, { nodeArgs: split(flagsA) })),
      B: await start(servers.ours(standIn.url, { nodeArgs: split(flagsB) })),
    };
    /** @type {Record<'A' | 'B', import('./lib/rounds.mjs').Run[]>} */
    const results = { A: [], B: [] };
    for (let round = 0; round < rounds; round++) {
      for (const key of /** @type {('A' | 'B')[]} */ (round % 2 === 0 ? ['A', 'B'] : ['B', 'A'])) {
        log(`round ${round + 1}/${rounds}: ${key}`);
        const server = ours[key];
        const out = await observe(server.pid, () =>
          h2load(Number(server.info['grpcPort']), {
            warmupS: round === 0 ? knobs.warmupS : knobs.roundWarmupS,
            ...(rps > 0 ? { rps } : {}),
          }),
        );
        results[key].push(out);
      }
    }
    /** @param {string} label @param {import('./lib/rounds.mjs').Run[]} runs */
    const row = (label, runs) =>
      `${label}  req/s ${runs.map(r => Math.round(r['reqPerS'])).join('/')} (median ${Math.round(Number(median(runs.map(r => r['reqPerS']))))}), ` +
      `p50 ${median(runs.map(r => r['latencyMs'].p50))} ms, p99 ${runs.map(r => r['latencyMs'].p99).join('/')} ms (median ${median(runs.map(r => r['latencyMs'].p99))}), ` +
      `RSS max ${Math.max(...runs.map(r => r['rssMaxMb']))} MB`;
    console.log(`\n${rps > 0 ? `fixed rate ${rps}/s` : 'saturation'} (h2load), ${rounds} rounds`);
    console.log(row(`A ${flagsA}\n  `, results.A));
    console.log(row(`B ${flagsB}\n  `, results.B));
    const ratios = results.B.map((b, i) => round3(b['reqPerS'] / results.A[i]?.['reqPerS']));
    console.log(`B ÷ A req/s: ${median(ratios)} (rounds ${ratios.join(', ')})`);
  });
}
