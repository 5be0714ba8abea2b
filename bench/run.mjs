// @ts-check
// `npm run bench`: throughput, latency and memory of cheq-rti-authz against reference servers
// measured in the same run (see bench/README.md). The server under test and the references all
// run on one core (BENCH_SERVER_CPU) but only one is driven at a time, in interleaved rounds, so
// slow drift of a shared machine hits every target alike; the load generators, the RTI stand-in
// and this script share the other core (BENCH_LOAD_CPU). Loopback only; every load is bounded.
// This runner sequences the phases (bench/phases/) and writes the report (bench/lib/report.mjs);
// `node bench/run.mjs --help` lists every BENCH_* variable.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { benchContext } from './lib/context.mjs';
import { knobsHelp, readKnobs } from './lib/knobs.mjs';
import { rssMb } from './lib/observe.mjs';
import { RESULTS_DIR, ROOT } from './lib/paths.mjs';
import { exitOnFailure, killChildrenOnExit, log } from './lib/processes.mjs';
import { printReport, verdicts } from './lib/report.mjs';
import { memoryMetrics } from './lib/scrape.mjs';
import { serverStarters } from './lib/servers.mjs';
import { preflight, prepareWorkDir, staleSources } from './lib/setup.mjs';
import { grpcSaturation } from './phases/grpc.mjs';
import { hungRti } from './phases/hang.mjs';
import { httpSaturation } from './phases/http.mjs';
import { challengePhase } from './phases/challenge.mjs';
import { memoryPhase } from './phases/memory.mjs';
import { millionChecks } from './phases/million.mjs';
import { protectionPhase } from './phases/protection.mjs';
import { atFixedRate, fixedRateOf } from './phases/rate.mjs';
import { v4Phases } from './phases/v4.mjs';
import { workersScaling } from './phases/workers.mjs';

/** @param {string[]} argv */
async function main(argv) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(knobsHelp());
    return;
  }
  if (argv.length > 0) throw new Error(`unknown argument ${argv.join(' ')}; try --help`);
  const knobs = readKnobs('run');
  const { phases } = knobs;
  if (!knobs.rate && !phases.has('grpc') && (phases.has('rate') || phases.has('hang'))) {
    throw new Error(
      'BENCH_PHASES rate and hang need grpc (their rate is a share of it) or BENCH_RATE',
    );
  }
  preflight(knobs);
  killChildrenOnExit();
  const work = prepareWorkDir();
  const startedAt = new Date();
  const loadBefore = loadavg();
  log(`load average before: ${loadBefore.map(x => x.toFixed(2)).join(' ')}`);
  const servers = serverStarters(knobs);
  const standIn = await servers.standIn();
  const bench = benchContext(knobs, work.dir, servers, standIn.url);
  /** @type {import('./lib/report.mjs').Results} */
  let results;
  try {
    results = await measure(bench);
  } finally {
    await bench.stopAll();
    await standIn.stop();
    work.remove();
  }
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: environment(loadBefore),
    config: {
      ...knobs,
      phases: [...phases],
      ourNodeArgs: servers.ourNodeArgs,
      referenceNodeArgs: servers.referenceNodeArgs,
    },
    results,
    verdicts: verdicts(results, knobs),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'latest.json');
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(file, json);
  writeFileSync(
    join(RESULTS_DIR, `run-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`),
    json,
  );
  printReport(report);
  console.log(`\nresults: ${file}`);
  if (report.verdicts.some(v => v.pass === false)) process.exitCode = 1;
}

/**
 * The phases in their order. Ours and the gRPC references serve grpc, rate and hang, then the
 * references stop; the HTTP and v4 phases start their own; workers, protection, challenge and
 * memory start fresh processes of ours (memory also its own RTI stand-ins and a redis-server).
 * Ours is measured idle first and after everything last.
 * @param {import('./lib/context.mjs').Bench} bench
 * @returns {Promise<import('./lib/report.mjs').Results>}
 */
async function measure(bench) {
  const { knobs, servers, rtiUrl } = bench;
  const { phases } = knobs;
  log('starting our server (dist/main.js) and the gRPC references');
  const ours = await bench.start(servers.ours(rtiUrl));
  const grpcUndici = await bench.start(servers.reference('grpc-undici', rtiUrl));
  const grpcBare = await bench.start(servers.reference('grpc-bare', rtiUrl));
  const metricsPort = Number(ours.info['metricsPort']);
  /** @type {import('./lib/report.mjs').Results} */
  const out = {
    ours: {
      pid: ours.pid,
      rssIdleMb: rssMb(ours.pid),
      memoryIdle: await memoryMetrics(metricsPort),
    },
  };
  const grpcTargets = [
    { key: 'ours', server: ours, port: Number(ours.info['grpcPort']), metricsPort },
    { key: 'grpcUndici', server: grpcUndici, port: Number(grpcUndici.info['port']) },
    { key: 'grpcBare', server: grpcBare, port: Number(grpcBare.info['port']) },
  ];
  const v4 = v4Phases(bench);

  if (phases.has('grpc')) out.grpc = await grpcSaturation(bench, grpcTargets);
  if (phases.has('grpc-v4')) out.grpcV4 = await v4.grpc();
  const rate = fixedRateOf(knobs, out.grpc);
  if (phases.has('rate')) Object.assign(out, await atFixedRate(bench, grpcTargets, rate));
  if (phases.has('hang')) Object.assign(out, await hungRti(bench, grpcTargets, rate));
  await grpcUndici.stop();
  await grpcBare.stop();

  const oursHttp = { key: 'ours', server: ours, port: Number(ours.info['httpPort']), metricsPort };
  if (phases.has('http')) out.http = await httpSaturation(bench, oursHttp);
  if (phases.has('http-v4')) out.httpV4 = await v4.http();
  const oursV4 = await v4.finish();
  if (oursV4) out.oursV4 = oursV4;

  if (knobs.million) out.million = await millionChecks(bench, ours);
  if (phases.has('workers')) out.workers = await workersScaling(bench);
  if (phases.has('protection')) out.protection = await protectionPhase(bench);
  if (phases.has('challenge')) out.challenge = await challengePhase(bench);
  if (phases.has('memory')) out.memory = await memoryPhase(bench, out.protection?.capacity);
  out.ours['rssAfterMb'] = rssMb(ours.pid);
  out.ours['memoryAfter'] = await memoryMetrics(metricsPort);
  const code = await ours.stop();
  if (code !== 0) log(`our server exited with ${code}:\n${ours.tail.slice(-5).join('\n')}`);
  return out;
}

/**
 * The machine and the code measured.
 * @param {number[]} loadBefore
 * @returns {import('./lib/report.mjs').Environment}
 */
function environment(loadBefore) {
  let commit;
  try {
    /** @param {string[]} args */
    const git = args => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    commit = git(['rev-parse', '--short', 'HEAD']);
    if (git(['status', '--porcelain', '--', 'src'])) commit += '+dirty-src';
  } catch {
    commit = undefined;
  }
  return {
    node: process.version,
    cpu: cpus()[0]?.model,
    cpus: cpus().length,
    loadAverageBefore: loadBefore.map(x => Math.round(x * 100) / 100),
    loadAverageAfter: loadavg().map(x => Math.round(x * 100) / 100),
    commit,
    distStaleVersusSrc: staleSources(),
  };
}

exitOnFailure(main(process.argv.slice(2)));
