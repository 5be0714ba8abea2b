// @ts-check
// Two builds of our server side by side: CPU time per answered check (the server's user and
// system time over the checks h2load or wrk got answered) at saturation, in short rounds that
// alternate, the order swapped each round, and the paired median of B ÷ A. On a shared VM whose
// speed drifts, checks/s of runs minutes apart differ by more than most changes do; CPU per
// check in rounds seconds apart drifts much less. The side-by-side rows of RESULTS.md come from it.
//
//   git worktree add /tmp/before <rev> && ln -s "$PWD/node_modules" /tmp/before/node_modules
//   (cd /tmp/before && npx tsc -p tsconfig.build.json)
//   node bench/compare-builds.mjs /tmp/before/dist/main.js dist/main.js
//
// The same build twice compares settings: BENCH_AB_ENV_B='{"CHEQ_VERDICT_HEADERS":"false"}'.
// Both run as shipped (circuit breaker, in-flight bound and connections at their defaults).

import { resolve } from 'node:path';
import { loadGenerators } from './lib/load-generators.mjs';
import { cpuSeconds } from './lib/observe.mjs';
import { log } from './lib/processes.mjs';
import { AS_SHIPPED, serverStarters } from './lib/servers.mjs';
import { runSideBySide } from './lib/side-by-side.mjs';
import { median, round3 } from './lib/stats.mjs';

const USAGE = `usage: node bench/compare-builds.mjs <A: path to main.js> <B: path to main.js>
settings: BENCH_ROUNDS (16), BENCH_AB_SECONDS, BENCH_AB_WARMUP_S, BENCH_AB_TRANSPORT,
BENCH_AB_ENV, BENCH_AB_ENV_B and the cores: node bench/run.mjs --help`;

const argv = process.argv.slice(2);
const [mainA, mainB] = argv;
if (argv.includes('--help')) {
  console.log(USAGE);
} else if (mainA === undefined || mainB === undefined || argv.length > 2) {
  console.error(USAGE);
  process.exitCode = 2;
} else {
  runSideBySide('compare-builds', async (knobs, workDir, start) => {
    const { h2load, wrk } = loadGenerators(knobs, workDir);
    const servers = serverStarters(knobs);
    /**
     * Saturation for `durationS` on the transport's port: the answered checks.
     * @param {import('./lib/processes.mjs').Started} server
     * @param {number} durationS
     */
    const load = async (server, durationS) => {
      const { grpcPort, httpPort } = server.info;
      const result =
        knobs.abTransport === 'http'
          ? await wrk(httpPort, { durationS, warmupS: 0 })
          : await h2load(grpcPort, { durationS, warmupS: 0 });
      return { checks: result.done, reqPerS: result.reqPerS };
    };
    const standIn = await start(servers.standIn());
    /** @param {string} main @param {Record<string, string>} extra */
    const ours = (main, extra) =>
      servers.ours(standIn.url, {
        env: { ...AS_SHIPPED, ...knobs.abEnv, ...extra },
        main: resolve(main),
      });
    const builds = { A: await start(ours(mainA, {})), B: await start(ours(mainB, knobs.abEnvB)) };
    for (const key of /** @type {const} */ (['A', 'B'])) {
      if (knobs.abWarmupS === 0) break;
      log(`warming ${key} up for ${knobs.abWarmupS} s`);
      await load(builds[key], knobs.abWarmupS);
    }
    /** @type {Record<'A' | 'B', { cpuUs: number, reqPerS: number }[]>} */
    const results = { A: [], B: [] };
    const { rounds, abSeconds: seconds } = knobs;
    for (let round = 0; round < rounds; round++) {
      for (const key of /** @type {('A' | 'B')[]} */ (round % 2 === 0 ? ['A', 'B'] : ['B', 'A'])) {
        const { pid } = builds[key];
        const cpuBefore = cpuSeconds(pid);
        const { checks, reqPerS } = await load(builds[key], seconds);
        const cpuUs = ((cpuSeconds(pid) - cpuBefore) * 1e6) / checks;
        results[key].push({ cpuUs, reqPerS });
        log(
          `round ${round + 1}/${rounds}: ${key} ${Math.round(cpuUs)} µs/check, ${Math.round(reqPerS)}/s`,
        );
      }
    }
    /** @param {'cpuUs' | 'reqPerS'} field */
    const paired = field =>
      results.B.map((b, i) => round3(b[field] / Number(results.A[i]?.[field])));
    const cpu = paired('cpuUs');
    const rate = paired('reqPerS');
    /** @param {{ cpuUs: number }[]} runs */
    const show = runs => runs.map(r => Math.round(r.cpuUs)).join('/');
    const envB = Object.keys(knobs.abEnvB).length > 0 ? ` ${JSON.stringify(knobs.abEnvB)}` : '';
    console.log(`\n${knobs.abTransport} saturation, ${rounds} rounds of ${seconds} s`);
    console.log(`A ${mainA}: CPU µs per check ${show(results.A)}`);
    console.log(`B ${mainB}${envB}: CPU µs per check ${show(results.B)}`);
    console.log(`B ÷ A CPU per check: ${median(cpu)} (paired median; rounds ${cpu.join(', ')})`);
    console.log(`B ÷ A checks/s: ${median(rate)} (paired median)`);
  });
}
