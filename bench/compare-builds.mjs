// Two builds of our server side by side: CPU time per answered check (the server's user and
// system time over the checks h2load or wrk got answered) at saturation, in short rounds that
// alternate, the order swapped each round, and the paired median of B ÷ A. On a shared VM whose
// speed drifts, checks/s of runs minutes apart differ by more than most changes do; CPU per
// check in rounds seconds apart drifts much less. The README's side-by-side figures come from it.
//
//   git worktree add /tmp/before <rev> && ln -s "$PWD/node_modules" /tmp/before/node_modules
//   (cd /tmp/before && npx tsc -p tsconfig.build.json)
//   node bench/compare-builds.mjs /tmp/before/dist/main.js dist/main.js
//
// The same build twice compares settings: BENCH_AB_ENV_B='{"CHEQ_VERDICT_HEADERS":"false"}'.
// Settings: BENCH_ROUNDS (16), BENCH_AB_SECONDS (3 per round), BENCH_AB_WARMUP_S (10, each
// build before the first round), BENCH_AB_TRANSPORT (grpc or http), BENCH_AB_ENV (JSON, env of
// both, e.g. {"CHEQ_API_VERSION":"v4"}), BENCH_AB_ENV_B (JSON, env of B only). Both run as
// shipped (circuit breaker, in-flight bound and connections at their defaults).

import { resolve } from 'node:path';
import {
  AS_SHIPPED,
  config,
  cpuSeconds,
  h2load,
  log,
  median,
  round3,
  runSideBySide,
  startOurs,
  startStandIn,
  wrk,
} from './harness.mjs';

const [mainA, mainB] = process.argv.slice(2);
if (mainA === undefined || mainB === undefined) {
  console.error('usage: node bench/compare-builds.mjs <A: path to main.js> <B: path to main.js>');
  process.exit(2);
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 16);
const seconds = Number(process.env.BENCH_AB_SECONDS ?? 3);
const warmupS = Number(process.env.BENCH_AB_WARMUP_S ?? 10);
const transport = process.env.BENCH_AB_TRANSPORT ?? 'grpc';
const env = JSON.parse(process.env.BENCH_AB_ENV ?? '{}');
const envB = JSON.parse(process.env.BENCH_AB_ENV_B ?? '{}');

/** Saturation for `durationS` on the transport's port: the answered checks. */
async function load(work, server, durationS) {
  const { grpcPort, httpPort } = server.info;
  const result =
    transport === 'http'
      ? await wrk(work.dir, httpPort, { durationS, warmupS: 0 })
      : await h2load(work.dir, grpcPort, { durationS, warmupS: 0 });
  return { checks: result.done, reqPerS: result.reqPerS };
}

if (!['grpc', 'http'].includes(transport)) {
  console.error('BENCH_AB_TRANSPORT: grpc or http');
  process.exit(2);
}

runSideBySide(async (work, start) => {
  const standIn = await start(startStandIn());
  const ours = (main, extra) =>
    startOurs(
      standIn.url,
      config.ourNodeArgs,
      { ...AS_SHIPPED, ...env, ...extra },
      config.serverCpu,
      resolve(main),
    );
  const servers = { A: await start(ours(mainA, {})), B: await start(ours(mainB, envB)) };
  for (const key of ['A', 'B']) {
    log(`warming ${key} up for ${warmupS} s`);
    await load(work, servers[key], warmupS);
  }
  const results = { A: [], B: [] };
  for (let round = 0; round < rounds; round++) {
    for (const key of round % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
      const { pid } = servers[key];
      const cpuBefore = cpuSeconds(pid);
      const { checks, reqPerS } = await load(work, servers[key], seconds);
      const cpuUs = ((cpuSeconds(pid) - cpuBefore) * 1e6) / checks;
      results[key].push({ cpuUs, reqPerS });
      log(
        `round ${round + 1}/${rounds}: ${key} ${Math.round(cpuUs)} µs/check, ${Math.round(reqPerS)}/s`,
      );
    }
  }
  const paired = field => results.B.map((b, i) => round3(b[field] / results.A[i][field]));
  const cpu = paired('cpuUs');
  const rate = paired('reqPerS');
  const show = runs => runs.map(r => Math.round(r.cpuUs)).join('/');
  console.log(`\n${transport} saturation, ${rounds} rounds of ${seconds} s`);
  console.log(`A ${mainA}: CPU µs per check ${show(results.A)}`);
  console.log(
    `B ${mainB}${process.env.BENCH_AB_ENV_B ? ` ${process.env.BENCH_AB_ENV_B}` : ''}: CPU µs per check ${show(results.B)}`,
  );
  console.log(`B ÷ A CPU per check: ${median(cpu)} (paired median; rounds ${cpu.join(', ')})`);
  console.log(`B ÷ A checks/s: ${median(rate)} (paired median)`);
});
