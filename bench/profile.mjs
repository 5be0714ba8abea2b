// Profile of our server under saturation: runs dist/main.js on the server core with V8's CPU
// profiler (--cpu-prof) or with the sampling allocation profiler (bench/alloc-sampler.mjs),
// drives it with h2load (gRPC) or wrk (HTTP auth-request) against the RTI stand-in, stops it
// with SIGTERM so the profile is written, then prints where the time (or the allocated memory)
// goes, by function, with our own code apart (bench/cpu-profile-summary.mjs). The profile
// covers the whole process, start-up and warm-up included; a CPU profile is then summarised
// again over the measured load alone, in µs of CPU per answered check (the figure to compare
// between builds or against a reference: BENCH_PROFILE_TARGET).
//
//   node bench/profile.mjs     BENCH_PROFILE_KIND (cpu | alloc | survivors), BENCH_PROFILE_TRANSPORT
//                              (grpc | http), BENCH_PROFILE_S (20), BENCH_TOP (15),
//                              BENCH_PROFILE_DIR (default: a new temporary directory),
//                              BENCH_PROFILE_HANG_RPS (0: checks/s whose RTI call hangs, gRPC),
//                              BENCH_PROFILE_TARGET (ours, ours-v4 with CHEQ_API_VERSION=v4,
//                              or a reference: grpc-undici, grpc-undici-v4, ...)

import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BENCH_DIR,
  RESULTS_DIR,
  config,
  decisionsByReason,
  h2load,
  killChildren,
  killChildrenOnExit,
  log,
  preflight,
  prepareWorkDir,
  rateClient,
  standInStats,
  startOurs,
  startReference,
  startStandIn,
  wrk,
} from './harness.mjs';
import { perCheckReport, report, reportJson, summariseFiles } from './cpu-profile-summary.mjs';

const kind = process.env.BENCH_PROFILE_KIND ?? 'cpu';
const transport = process.env.BENCH_PROFILE_TRANSPORT ?? 'grpc';
const seconds = Number(process.env.BENCH_PROFILE_S ?? 20);
const top = Number(process.env.BENCH_TOP ?? 15);
const hangRate = Number(process.env.BENCH_PROFILE_HANG_RPS ?? 0);
const target = process.env.BENCH_PROFILE_TARGET ?? 'ours';
const profileDir = process.env.BENCH_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), 'cheq-prof-'));

async function main() {
  if (!['cpu', 'alloc', 'survivors'].includes(kind)) {
    throw new Error('BENCH_PROFILE_KIND: cpu, alloc or survivors');
  }
  preflight();
  killChildrenOnExit();
  mkdirSync(profileDir, { recursive: true });
  const work = prepareWorkDir();
  const standIn = await startStandIn();
  try {
    const profilerArgs =
      kind === 'cpu'
        ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
        : [`--import=${join(BENCH_DIR, 'alloc-sampler.mjs')}`];
    const profilerEnv =
      kind === 'cpu' ? {} : { BENCH_ALLOC_DIR: profileDir, BENCH_ALLOC_KEEP: kind };
    const isOurs = target === 'ours' || target === 'ours-v4';
    const ours = isOurs
      ? await startOurs(standIn.url, [...config.ourNodeArgs, ...profilerArgs], {
          ...profilerEnv,
          ...(target === 'ours-v4' ? { CHEQ_API_VERSION: 'v4' } : {}),
        })
      : await startReference(
          target,
          standIn.url,
          [...config.referenceNodeArgs, ...profilerArgs],
          profilerEnv,
        );
    const rtiBefore = await standInStats(standIn.url);
    const grpcPort = ours.info.grpcPort ?? ours.info.port;
    const httpPort = ours.info.httpPort ?? ours.info.port;
    log(`${kind} profile of ${target} (pid ${ours.pid}) under ${transport} load, ${seconds} s`);
    const hung =
      hangRate > 0
        ? rateClient(grpcPort, {
            rate: 0,
            hangRate,
            warmupS: 0,
            durationS: seconds + config.warmupS,
          })
        : undefined;
    const load =
      transport === 'http'
        ? await wrk(work.dir, httpPort, { durationS: seconds })
        : await h2load(work.dir, grpcPort, { durationS: seconds });
    // The measured load: its last `seconds`, on the monotonic clock the CPU profile uses.
    const loadEndUs = Number(process.hrtime.bigint() / 1000n);
    const steadyWindow = { fromUs: loadEndUs - seconds * 1e6, toUs: loadEndUs };
    const steadyChecks = Math.round(load.reqPerS * seconds);
    if (hung) log(`hung checks: ${JSON.stringify((await hung).hang)}`);
    // Checks served in all (warm-up included): our own count, else the RTI calls made.
    const decisions = isOurs ? await decisionsByReason(ours.info.metricsPort) : undefined;
    const requests = decisions
      ? Object.entries(decisions)
          .filter(([reason]) => !reason.includes(':'))
          .reduce((sum, [, count]) => sum + count, 0)
      : (await standInStats(standIn.url)).verdicts - rtiBefore.verdicts || load.done;
    log(`${Math.round(load.reqPerS)} req/s; stopping it with SIGTERM to write the profile`);
    await ours.stop();
    const suffix = kind === 'cpu' ? '.cpuprofile' : '.heapprofile';
    const files = readdirSync(profileDir)
      .filter(file => file.endsWith(suffix) && file.includes(`.${ours.pid}.`))
      .map(file => join(profileDir, file));
    if (files.length === 0) throw new Error(`no profile of pid ${ours.pid} in ${profileDir}`);
    const summary = summariseFiles(files);
    console.log(`\n${kind} profile: ${files.join(', ')}`);
    console.log(`${transport} load: ${Math.round(load.reqPerS)} req/s (${requests} checks in all)`);
    if (kind !== 'cpu') {
      console.log(`≈ ${(summary.total / requests / 1024).toFixed(1)} KiB allocated per check`);
    }
    console.log(report(summary, top));
    const steady = kind === 'cpu' ? summariseFiles(files, steadyWindow) : undefined;
    if (steady) {
      console.log(`\nsteady state, the ${seconds} s of measured load only: CPU per answered check`);
      console.log(perCheckReport(steady, steadyChecks, top));
    }
    mkdirSync(RESULTS_DIR, { recursive: true });
    const out = join(RESULTS_DIR, `profile-${kind}-${transport}-${target}-latest.json`);
    const json = {
      kind,
      transport,
      reqPerS: load.reqPerS,
      checks: requests,
      files,
      ...reportJson(summary, top),
      ...(steady && {
        steady: {
          windowUs: steadyWindow,
          checks: steadyChecks,
          busyUsPerCheck:
            ((steady.total - (steady.origins.get('idle') ?? 0)) * 1000) / steadyChecks,
        },
      }),
    };
    writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
    const steadyFlags = steady
      ? ` --window ${steadyWindow.fromUs},${steadyWindow.toUs} --checks ${steadyChecks}`
      : '';
    console.log(
      `\nsummary: ${out}\nagain: node bench/cpu-profile-summary.mjs ${files.join(' ')}${steadyFlags}`,
    );
  } finally {
    await standIn.stop();
    work.remove();
  }
}

main().catch(err => {
  console.error(err);
  killChildren();
  process.exitCode = 2;
});
