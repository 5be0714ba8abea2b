// @ts-check
// Profile of our server under saturation: runs dist/main.js on the server core with V8's CPU
// profiler (--cpu-prof) or with the sampling allocation profiler (bench/alloc-sampler.mjs),
// drives it with h2load (gRPC) or wrk (HTTP auth-request) against the RTI stand-in, stops it
// with SIGTERM so the profile is written, then prints where the time (or the allocated memory)
// goes, by function, with our own code apart (bench/cpu-profile-summary.mjs). The profile
// covers the whole process, start-up and warm-up included; a CPU profile is then summarised
// again over the measured load alone, in µs of CPU per answered check (the figure to compare
// between builds or against a reference: BENCH_PROFILE_TARGET).
//
//   node bench/profile.mjs     settings BENCH_PROFILE_*, BENCH_TOP: node bench/run.mjs --help

import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { perCheckReport, report, reportJson, summariseFiles } from './cpu-profile-summary.mjs';
import { readKnobs } from './lib/knobs.mjs';
import { loadGenerators } from './lib/load-generators.mjs';
import { BENCH_DIR, RESULTS_DIR } from './lib/paths.mjs';
import { exitOnFailure, killChildrenOnExit, log } from './lib/processes.mjs';
import { decidedChecks, decisionsByReason, standInStats } from './lib/scrape.mjs';
import { serverStarters } from './lib/servers.mjs';
import { preflight, prepareWorkDir } from './lib/setup.mjs';

async function main() {
  if (process.argv.includes('--help')) {
    console.log('usage: [BENCH_PROFILE_*=…] node bench/profile.mjs (node bench/run.mjs --help)');
    return;
  }
  const knobs = readKnobs('profile');
  const {
    profileKind: kind,
    profileTransport: transport,
    profileS: seconds,
    top,
    profileHangRate: hangRate,
    profileTarget: target,
  } = knobs;
  const profileDir = knobs.profileDir || mkdtempSync(join(tmpdir(), 'cheq-prof-'));
  preflight(knobs);
  killChildrenOnExit();
  mkdirSync(profileDir, { recursive: true });
  const work = prepareWorkDir();
  const servers = serverStarters(knobs);
  const { h2load, wrk, rateClient } = loadGenerators(knobs, work.dir);
  const standIn = await servers.standIn();
  try {
    const profilerArgs =
      kind === 'cpu'
        ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
        : [`--import=${join(BENCH_DIR, 'alloc-sampler.mjs')}`];
    /** @type {Record<string, string>} */
    const profilerEnv =
      kind === 'cpu' ? {} : { BENCH_ALLOC_DIR: profileDir, BENCH_ALLOC_KEEP: kind };
    const isOurs = target === 'ours' || target === 'ours-v4';
    const ours = isOurs
      ? await servers.ours(standIn.url, {
          nodeArgs: [...servers.ourNodeArgs, ...profilerArgs],
          env: { ...profilerEnv, ...(target === 'ours-v4' ? { CHEQ_API_VERSION: 'v4' } : {}) },
        })
      : await servers.reference(target, standIn.url, {
          nodeArgs: [...servers.referenceNodeArgs, ...profilerArgs],
          env: profilerEnv,
        });
    const rtiBefore = await standInStats(standIn.url);
    const grpcPort = Number(ours.info['grpcPort'] ?? ours.info['port']);
    const httpPort = Number(ours.info['httpPort'] ?? ours.info['port']);
    log(`${kind} profile of ${target} (pid ${ours.pid}) under ${transport} load, ${seconds} s`);
    const hung =
      hangRate > 0
        ? rateClient(grpcPort, {
            rate: 0,
            hangRate,
            warmupS: 0,
            durationS: seconds + knobs.warmupS,
          })
        : undefined;
    const load =
      transport === 'http'
        ? await wrk(httpPort, { durationS: seconds })
        : await h2load(grpcPort, { durationS: seconds });
    // The measured load: its last `seconds`, on the monotonic clock the CPU profile uses.
    const loadEndUs = Number(process.hrtime.bigint() / 1000n);
    const steadyWindow = { fromUs: loadEndUs - seconds * 1e6, toUs: loadEndUs };
    const steadyChecks = Math.round(load.reqPerS * seconds);
    if (hung) log(`hung checks: ${JSON.stringify((await hung).hang)}`);
    // Checks served in all (warm-up included): our own count, else the RTI calls made.
    const requests = isOurs
      ? decidedChecks(await decisionsByReason(Number(ours.info['metricsPort'])))
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

exitOnFailure(main());
