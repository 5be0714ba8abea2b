// `npm run bench`: throughput, latency and memory of cheq-rti-authz against reference servers
// measured in the same run (see bench/README.md). The server under test and the references all
// run on one core (BENCH_SERVER_CPU) but only one is driven at a time, in interleaved rounds, so
// slow drift of a shared machine hits every target alike; the load generators, the RTI stand-in
// and this script share the other core (BENCH_LOAD_CPU). Loopback only; every load is bounded.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import {
  AS_SHIPPED,
  RESULTS_DIR,
  ROOT,
  TARGETS,
  config,
  counted,
  h2load,
  killChildren,
  killChildrenOnExit,
  log,
  median,
  memoryMetrics,
  observe,
  preflight,
  pooledProtection,
  prepareWorkDir,
  rateClient,
  readyz,
  round3,
  rssMb,
  sharePct,
  staleSources,
  startOurs,
  startReference,
  startStandIn,
  wrk,
} from './harness.mjs';

const PHASES = ['grpc', 'grpc-v4', 'rate', 'hang', 'http', 'http-v4', 'workers', 'protection'];
/** The RTI v4 path (rti-api.md §5); the stand-in counts the calls made to it. */
const V4_PATH = '/defend/4.0/traffic';
/** Past this, the load core's own queueing shows in the fixed-rate latencies. */
const LOAD_CORE_BUSY_PCT = 75;

async function main() {
  const unknown = [...config.phases].filter(phase => !PHASES.includes(phase));
  if (unknown.length > 0) throw new Error(`BENCH_PHASES: unknown ${unknown.join(', ')}`);
  if (
    !config.rate &&
    !config.phases.has('grpc') &&
    ['rate', 'hang'].some(p => config.phases.has(p))
  ) {
    throw new Error(
      'BENCH_PHASES rate and hang need grpc (their rate is a share of it) or BENCH_RATE',
    );
  }
  preflight();
  killChildrenOnExit();
  const work = prepareWorkDir();
  const startedAt = new Date();
  const loadBefore = loadavg();
  log(`load average before: ${loadBefore.map(x => x.toFixed(2)).join(' ')}`);
  const standIn = await startStandIn();
  const started = [];
  let results;
  try {
    results = await measure(work, standIn.url, started);
  } finally {
    for (const server of started) await server.stop();
    await standIn.stop();
    work.remove();
  }
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: environment(loadBefore),
    config: { ...config, phases: [...config.phases] },
    results,
    verdicts: verdicts(results),
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

// ---------------------------------------------------------------------------------------------
// Phases

async function measure(work, rtiUrl, started) {
  const start = async promise => {
    const server = await promise;
    started.push(server);
    return server;
  };
  log('starting our server (dist/main.js) and the gRPC references');
  const ours = await start(startOurs(rtiUrl));
  const grpcUndici = await start(startReference('grpc-undici', rtiUrl));
  const grpcBare = await start(startReference('grpc-bare', rtiUrl));
  const { metricsPort } = ours.info;
  const out = {
    ours: {
      pid: ours.pid,
      rssIdleMb: rssMb(ours.pid),
      memoryIdle: await memoryMetrics(metricsPort),
    },
  };
  /** One load on one target: its RSS and CPU observed, RTI calls (and our decisions) counted. */
  const one = (target, load) =>
    counted(rtiUrl, target.metricsPort, () => observe(target.server.pid, load));
  const grpcTargets = [
    { key: 'ours', server: ours, port: ours.info.grpcPort, metricsPort },
    { key: 'grpcUndici', server: grpcUndici, port: grpcUndici.info.port },
    { key: 'grpcBare', server: grpcBare, port: grpcBare.info.port },
  ];
  const warmup = round => (round === 0 ? config.warmupS : config.roundWarmupS);
  /** Our server on RTI v4 (CHEQ_API_VERSION=v4), started for the first v4 phase. */
  let oursV4;
  const startOursV4 = async () => {
    if (!oursV4) {
      log('starting our server with CHEQ_API_VERSION=v4');
      oursV4 = await start(startOurs(rtiUrl, config.ourNodeArgs, { CHEQ_API_VERSION: 'v4' }));
    }
    return { key: 'ours', server: oursV4, metricsPort: oursV4.info.metricsPort };
  };

  if (config.phases.has('grpc')) {
    out.grpc = saturation(
      await rounds('gRPC saturation (h2load)', grpcTargets, (t, round) =>
        one(t, () => h2load(work.dir, t.port, { warmupS: warmup(round) })),
      ),
      'grpcUndici',
    );
  }
  if (config.phases.has('grpc-v4')) {
    // The same saturation on RTI v4, against a reference making the v4 JSON call.
    const v4 = await startOursV4();
    log('starting the gRPC reference on RTI v4');
    const reference = await start(startReference('grpc-undici-v4', rtiUrl));
    const targets = [
      { ...v4, port: oursV4.info.grpcPort },
      { key: 'grpcUndiciV4', server: reference, port: reference.info.port },
    ];
    out.grpcV4 = withV4Calls(
      saturation(
        await rounds('gRPC saturation on RTI v4 (h2load)', targets, (t, round) =>
          one(t, () => h2load(work.dir, t.port, { warmupS: warmup(round) })),
        ),
        'grpcUndiciV4',
      ),
    );
    await reference.stop();
  }
  const rate =
    config.rate || Math.round((out.grpc?.median.ours.reqPerS ?? 0) * config.rateFraction);
  const atRate = { rate, durationS: config.latencyDurationS, warmupS: config.roundWarmupS };
  if (config.phases.has('rate')) {
    out.atRate = fixedRate(
      await rounds(`gRPC at ${rate}/s (grpc-js client, open loop)`, grpcTargets, t =>
        one(t, () => rateClient(t.port, atRate)),
      ),
    );
    // The same rate from h2load: a C client with a fraction of the grpc-js client's CPU, so
    // the load core's own delays weigh less in the percentiles (it cannot read grpc-status;
    // our fail_open count stands in for that).
    out.atRateH2load = h2loadAtRate(
      await rounds(`gRPC at ${rate}/s (h2load --rps)`, grpcTargets, t =>
        one(t, () =>
          h2load(work.dir, t.port, {
            rps: rate,
            durationS: config.latencyDurationS,
            warmupS: config.roundWarmupS,
          }),
        ),
      ),
      rate,
    );
  }
  const withHangs = { ...atRate, hangRate: config.hangRate };
  if (config.phases.has('hang')) {
    out.hangAtRate = fixedRate(
      await rounds(
        `RTI hanging for ${config.hangRate}/s, others at ${rate}/s`,
        grpcTargets.slice(0, 2),
        t => one(t, () => rateClient(t.port, withHangs)),
      ),
    );
    // Saturation with and without hung checks, alternately: our ratio is the target.
    out.hangSaturation = await hangSaturation(work, grpcTargets, one);
  }
  await grpcUndici.stop();
  await grpcBare.stop();

  if (config.phases.has('http')) {
    log('starting the HTTP references');
    const httpUndici = await start(startReference('http-undici', rtiUrl));
    const httpBare = await start(startReference('http-bare', rtiUrl));
    const httpTargets = [
      { key: 'ours', server: ours, port: ours.info.httpPort, metricsPort },
      { key: 'httpUndici', server: httpUndici, port: httpUndici.info.port },
      { key: 'httpBare', server: httpBare, port: httpBare.info.port },
    ];
    out.http = saturation(
      await rounds('HTTP auth-request saturation (wrk)', httpTargets, (t, round) =>
        one(t, () => wrk(work.dir, t.port, { warmupS: warmup(round) })),
      ),
      'httpUndici',
    );
    await httpUndici.stop();
    await httpBare.stop();
  }
  if (config.phases.has('http-v4')) {
    const v4 = await startOursV4();
    log('starting the HTTP reference on RTI v4');
    const reference = await start(startReference('http-undici-v4', rtiUrl));
    const targets = [
      { ...v4, port: oursV4.info.httpPort },
      { key: 'httpUndiciV4', server: reference, port: reference.info.port },
    ];
    out.httpV4 = withV4Calls(
      saturation(
        await rounds('HTTP auth-request saturation on RTI v4 (wrk)', targets, (t, round) =>
          one(t, () => wrk(work.dir, t.port, { warmupS: warmup(round) })),
        ),
        'httpUndiciV4',
      ),
    );
    await reference.stop();
  }
  if (oursV4) {
    out.oursV4 = { pid: oursV4.pid, rssAfterMb: rssMb(oursV4.pid) };
    const code = await oursV4.stop();
    if (code !== 0) log(`our v4 server exited with ${code}:\n${oursV4.tail.slice(-5).join('\n')}`);
  }

  if (config.million) out.million = await millionChecks(work, ours);
  if (config.phases.has('workers')) out.workers = await workersScaling(work, rtiUrl, start);
  if (config.phases.has('protection'))
    out.protection = await protectionPhase(work, rtiUrl, start, one);
  out.ours.rssAfterMb = rssMb(ours.pid);
  out.ours.memoryAfter = await memoryMetrics(metricsPort);
  const code = await ours.stop();
  if (code !== 0) log(`our server exited with ${code}:\n${ours.tail.slice(-5).join('\n')}`);
  return out;
}

/**
 * WORKERS=1 against WORKERS=2, both free to use every core (the load generator and the RTI
 * stand-in too, so on a 2-core machine the gain is bounded by what h2load leaves over).
 */
async function workersScaling(work, rtiUrl, start) {
  const everyCore = `0-${cpus().length - 1}`;
  log(`starting our server with WORKERS=1 and WORKERS=2 on cores ${everyCore}`);
  const targets = [];
  for (const workers of [1, 2]) {
    const server = await start(
      startOurs(rtiUrl, config.ourNodeArgs, { WORKERS: String(workers) }, everyCore),
    );
    targets.push({ key: `workers${workers}`, server, port: server.info.grpcPort });
  }
  const result = saturation(
    await rounds('gRPC saturation, WORKERS=1 and 2 (h2load)', targets, (t, round) =>
      observe(undefined, () =>
        h2load(work.dir, t.port, {
          warmupS: round === 0 ? config.warmupS : config.roundWarmupS,
          cpu: everyCore,
        }),
      ),
    ),
    'workers1',
  );
  for (const t of targets) await t.server.stop();
  return result;
}

/**
 * Protected share (issue 11) of our server as it ships (circuit breaker and in-flight bound at
 * their defaults) on its core, the RTI stand-in healthy. On one process: saturation (h2load
 * closed loop, 128 in flight) whose median checks/s is the capacity (or BENCH_CAPACITY). Then
 * per round, 150 % of capacity offered to that process (h2load --rps, up to 1,024 in flight),
 * and a fresh process: its first BENCH_FRESH_S seconds at a third of capacity from the moment
 * /readyz answers 200, then 30, 60 and 90 % of capacity. Every window is counted from our
 * server's decision counters (scraped before and after it, without h2load's warm-up inside).
 */
async function protectionPhase(work, rtiUrl, start, one) {
  const shipped = () => start(startOurs(rtiUrl, config.ourNodeArgs, AS_SHIPPED));
  const target = server => ({
    key: 'ours',
    server,
    port: server.info.grpcPort,
    metricsPort: server.info.metricsPort,
  });
  const fixedRate = rps => ({
    rps,
    clients: config.protectClients,
    streams: config.protectStreams,
  });
  /** An uncounted warm-up, then a counted window with the same load. */
  const countedLoad = async (
    t,
    load,
    durationS = config.durationS,
    warmupS = config.roundWarmupS,
  ) => {
    if (warmupS > 0) await h2load(work.dir, t.port, { ...load, durationS: warmupS, warmupS: 0 });
    const result = await one(t, () => h2load(work.dir, t.port, { ...load, durationS, warmupS: 0 }));
    return protectionWindow(result, load.rps);
  };

  log('protection: starting our server as shipped (circuit breaker on)');
  const steady = target(await shipped());
  await readyz(steady.metricsPort);
  const saturationRounds = [];
  for (let round = 0; round < config.rounds; round++) {
    log(`protection, saturation (h2load, 128 in flight): round ${round + 1}/${config.rounds}`);
    const warmupS = round === 0 ? config.warmupS : config.roundWarmupS;
    saturationRounds.push(await countedLoad(steady, {}, config.durationS, warmupS));
  }
  const saturation = protectionSummary(saturationRounds);
  const capacity = config.capacity || Math.round(median(saturationRounds.map(w => w.reqPerS)));
  const rates = {
    fresh: Math.round(capacity / 3),
    load30: Math.round(capacity * 0.3),
    load60: Math.round(capacity * 0.6),
    load90: Math.round(capacity * 0.9),
    overload150: Math.round(capacity * 1.5),
  };
  const rounds = { overload150: [], fresh: [], load30: [], load60: [], load90: [] };
  for (let round = 0; round < config.rounds; round++) {
    const label = what => log(`protection, ${what}: round ${round + 1}/${config.rounds}`);
    label(`150 % of capacity offered (${rates.overload150}/s)`);
    rounds.overload150.push(await countedLoad(steady, fixedRate(rates.overload150)));
    label(`fresh process, first ${config.freshS} s at ${rates.fresh}/s`);
    const spawnedAt = Date.now();
    const fresh = target(await shipped());
    await readyz(fresh.metricsPort);
    const readyMs = Date.now() - spawnedAt;
    rounds.fresh.push({
      ...(await countedLoad(fresh, fixedRate(rates.fresh), config.freshS, 0)),
      readyAfterSpawnMs: readyMs,
    });
    for (const key of ['load30', 'load60', 'load90']) {
      label(`the same process at ${rates[key]}/s`);
      rounds[key].push(await countedLoad(fresh, fixedRate(rates[key])));
    }
    await fresh.server.stop();
  }
  await steady.server.stop();
  const summaries = Object.fromEntries(
    Object.entries(rounds).map(([key, windows]) => [key, protectionSummary(windows, rates[key])]),
  );
  return {
    freshS: config.freshS,
    capacity,
    capacityFrom: config.capacity ? 'BENCH_CAPACITY' : 'saturation checks/s (median of rounds)',
    rates,
    saturation,
    ...summaries,
  };
}

/** One counted h2load window → checks/s, verdicts/s, protected share, and counts to cross-check. */
function protectionWindow(result, offeredPerS) {
  const p = result.protection;
  const serverChecks = Object.entries(result.decisions ?? {})
    .filter(([reason]) => !reason.includes(':'))
    .reduce((sum, [, n]) => sum + n, 0);
  return {
    ...result,
    ...(offeredPerS
      ? {
          offeredPerS,
          // Arrivals h2load still held in its own queue (beyond -c × -m in flight) at the end:
          // a proxy would have failed them open (Envoy: circuit breaker overflow).
          notSent: Math.max(0, Math.round(offeredPerS * result.elapsedS) - result.started),
        }
      : {}),
    // At most the answers h2load got: a stream it dropped at its end may still have been
    // decided from a verdict, and that answer reached nobody.
    verdictsPerS: Math.round(Math.min(p.verdicts, result.done) / result.elapsedS),
    share: p.share,
    // Cross-check (countsDiffer): what our server decided against what h2load sent and got.
    serverChecks,
    clientSent: result.started,
    clientDone: result.done,
  };
}

/** Windows over rounds → checks/s, verdicts/s and the share, pooled over the rounds. */
function protectionSummary(windows, offeredPerS) {
  const sum = key => windows.reduce((total, w) => total + (w[key] ?? 0), 0);
  const observed = observedOverRounds(windows);
  return {
    ...(offeredPerS ? { offeredPerS, notSent: sum('notSent') } : {}),
    // Pooled like the share: all of the rounds' checks over all of their time.
    checksPerS: Math.round(sum('done') / sum('elapsedS')),
    verdictsPerS: Math.round(Math.min(observed.protection.verdicts, sum('done')) / sum('elapsedS')),
    verdictsPerSRounds: windows.map(w => w.verdictsPerS),
    share: observed.protection.share,
    shareRounds: windows.map(w => sharePct(w.share)),
    serverChecks: sum('serverChecks'),
    clientSent: sum('clientSent'),
    clientDone: sum('clientDone'),
    ...(windows[0].readyAfterSpawnMs === undefined
      ? {}
      : { readyAfterSpawnMs: windows.map(w => w.readyAfterSpawnMs) }),
    ...observed,
    rounds: windows,
  };
}

/** gRPC saturation without and with hung checks alongside, alternately: ours, then (2). */
async function hangSaturation(work, [ours, reference], one) {
  const all = await rounds(
    `gRPC saturation with and without ${config.hangRate}/s hung checks, ours and (2)`,
    [
      { ...ours, key: 'plain' },
      { ...ours, key: 'hung', hangs: true },
      { ...reference, key: 'refPlain' },
      { ...reference, key: 'refHung', hangs: true },
    ],
    t =>
      one(t, async () => {
        const load = h2load(work.dir, t.port, { warmupS: config.roundWarmupS });
        if (!t.hangs) return load;
        const hung = rateClient(t.port, {
          rate: 0,
          hangRate: config.hangRate,
          warmupS: 0,
          durationS: config.durationS + config.roundWarmupS,
        });
        return { ...(await load), hung: (await hung).hang };
      }),
  );
  // Each server against itself without hangs: (2) shows what the hangs cost any server.
  const pair = (plain, hung) =>
    saturation(
      all.map(round => ({ plain: round[plain], hung: round[hung] })),
      'plain',
    );
  return { ours: pair('plain', 'hung'), reference: pair('refPlain', 'refHung') };
}

/**
 * Runs `load` for every target, config.rounds times; the order rotates from round to round so
 * no target always goes first. Returns one { key: result } per round.
 */
async function rounds(label, targets, load) {
  const all = [];
  for (let round = 0; round < config.rounds; round++) {
    const results = {};
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(i + round) % targets.length];
      log(`${label}: round ${round + 1}/${config.rounds}, ${target.key}`);
      results[target.key] = await load(target, round);
    }
    all.push(results);
  }
  return all;
}

/**
 * Saturation rounds → per target the median round (its latency and counters), the req/s of
 * every round and the largest RSS; ratio = median over rounds of req/s ÷ the reference's req/s
 * in the same round.
 */
function saturation(all, refKey) {
  const out = { median: {}, ratio: {}, rounds: all };
  for (const key of Object.keys(all[0])) {
    const runs = all.map(round => round[key]);
    const mid = median(runs.map(run => run.reqPerS));
    out.median[key] = {
      ...runs.find(run => run.reqPerS === mid),
      reqPerSRounds: runs.map(run => run.reqPerS),
      rssMaxMb: Math.max(...runs.map(run => run.rssMaxMb)),
    };
    const ratios = all.map(round => round3(round[key].reqPerS / round[refKey].reqPerS));
    out.ratio[key] = { median: median(ratios), rounds: ratios };
  }
  return out;
}

/**
 * A v4 phase's RTI calls, per target summed over its rounds, as the stand-in counted them: all
 * of them and those made to /defend/4.0/traffic. Every call must be a v4 one, or the phase did
 * not measure RTI v4.
 */
function withV4Calls(summary) {
  const v4Calls = {};
  for (const key of Object.keys(summary.median)) {
    const calls = { v4: 0, all: 0 };
    for (const round of summary.rounds) {
      const c = round[key].rtiCalls ?? {};
      calls.v4 += c.v4 ?? 0;
      calls.all += (c.verdicts ?? 0) + (c.hung ?? 0);
    }
    v4Calls[key] = { ...calls, onlyV4: calls.all > 0 && calls.v4 === calls.all };
  }
  return { ...summary, v4Calls };
}

/** "6154/6154 RTI calls to /defend/4.0/traffic" for a v4 phase's target, [!] if not all. */
const v4CallsNote = (summary, key) => {
  const calls = summary.v4Calls[key];
  return `${calls.v4}/${calls.all} RTI calls to ${V4_PATH}${calls.onlyV4 ? '' : ' [!] not all'}`;
};

/** Fixed-rate rounds → per target and kind (normal, hang) medians of the percentiles. */
function fixedRate(all) {
  const out = { rounds: all, median: {} };
  const kinds = (runs, kind) => {
    const stats = runs.map(run => run[kind]).filter(Boolean);
    if (stats.length === 0) return undefined;
    const errors = {};
    for (const s of stats) {
      for (const [name, n] of Object.entries(s.errors)) errors[name] = (errors[name] ?? 0) + n;
    }
    const at = q => median(stats.map(s => s.latencyMs[q]));
    return {
      sent: stats.reduce((sum, s) => sum + s.sent, 0),
      ok: stats.reduce((sum, s) => sum + s.ok, 0),
      errors,
      ratePerS: stats[0].ratePerS,
      latencyMs: {
        p50: at('p50'),
        p90: at('p90'),
        p99: at('p99'),
        p999: at('p999'),
        max: Math.max(...stats.map(s => s.latencyMs.max ?? 0)),
      },
      p99Rounds: stats.map(s => s.latencyMs.p99),
      scheduleLagP99Ms: median(stats.map(s => s.scheduleLagMs.p99)),
    };
  };
  for (const key of Object.keys(all[0])) {
    const runs = all.map(round => round[key]);
    out.median[key] = {
      normal: kinds(runs, 'normal'),
      ...(runs[0].hang ? { hang: kinds(runs, 'hang') } : {}),
      ...observedOverRounds(runs),
      ...(runs[0].hungHeldMs ? { hungHeldMs: heldSummary(runs) } : {}),
    };
  }
  return out;
}

/** h2load --rps rounds → per target the medians of its percentiles and the failures summed. */
function h2loadAtRate(all, rate) {
  const out = { rate, rounds: all, median: {} };
  for (const key of Object.keys(all[0])) {
    const runs = all.map(round => round[key]);
    const at = q => median(runs.map(run => run.latencyMs?.[q]));
    out.median[key] = {
      reqPerS: median(runs.map(run => run.reqPerS)),
      latencyMs: { p50: at('p50'), p99: at('p99'), p999: at('p999') },
      p99Rounds: runs.map(run => run.latencyMs?.p99),
      failed: runs.reduce((sum, run) => sum + run.failed, 0),
      ...observedOverRounds(runs),
    };
  }
  return out;
}

/** What observe() and counted() saw over the rounds: largest RSS, median CPU, summed decisions. */
function observedOverRounds(runs) {
  const decisions = {};
  for (const run of runs) {
    for (const [reason, n] of Object.entries(run.decisions ?? {})) {
      decisions[reason] = (decisions[reason] ?? 0) + n;
    }
  }
  return {
    rssMaxMb: Math.max(...runs.map(run => run.rssMaxMb)),
    serverCpuPct: median(runs.map(run => run.serverCpuPct)),
    coreBusyPct: Object.fromEntries(
      Object.keys(runs[0].coreBusyPct).map(cpu => [
        cpu,
        median(runs.map(run => run.coreBusyPct[cpu])),
      ]),
    ),
    ...(runs[0].decisions
      ? { decisions, protection: pooledProtection(runs.map(run => run.protection)) }
      : {}),
  };
}

/** The stand-in's view of the hung requests over rounds: median p50/p99, largest max. */
function heldSummary(runs) {
  const held = runs.map(run => run.hungHeldMs).filter(Boolean);
  return {
    p50: median(held.map(h => h.p50)),
    p99: median(held.map(h => h.p99)),
    p99Rounds: held.map(h => h.p99),
    max: Math.max(...held.map(h => h.max)),
  };
}

/** 1 million checks in chunks, RSS and heap sampled after each: memory must stay flat. */
async function millionChecks(work, ours) {
  const chunk = Math.ceil(config.millionChecks / config.millionChunks);
  const series = [];
  let checks = 0;
  const started = Date.now();
  for (let i = 0; i < config.millionChunks; i++) {
    const result = await h2load(work.dir, ours.info.grpcPort, { requests: chunk });
    checks += result.done;
    series.push({
      checks,
      rssMb: rssMb(ours.pid),
      ...(await memoryMetrics(ours.info.metricsPort)),
      reqPerS: result.reqPerS,
      failed: result.failed,
    });
    log(`our server: ${checks} checks, RSS ${series.at(-1).rssMb} MB`);
  }
  return { checks, elapsedS: (Date.now() - started) / 1000, series };
}

function environment(loadBefore) {
  let commit;
  try {
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

// ---------------------------------------------------------------------------------------------
// Verdicts and the printed report

function verdicts(r) {
  const out = [];
  const add = (target, measured, limit, pass, note) =>
    out.push({ target, measured, limit, pass, ...(note ? { note } : {}) });
  const rounds = ratio => `rounds ${ratio.rounds.join(', ')}`;

  const throughput = (summary, label) => {
    const ratio = summary.ratio.ours;
    add(
      label,
      ratio.median,
      `≥ ${TARGETS.throughputRatio}`,
      ratio.median >= TARGETS.throughputRatio,
      `${rounds(ratio)}; ours protected ${protectedNote(summary.median.ours)}`,
    );
  };
  if (r.grpc) throughput(r.grpc, 'gRPC Check throughput / reference (2) grpc-undici');
  if (r.http) throughput(r.http, 'HTTP auth-request throughput / reference (4) http-undici');
  /** The same on RTI v4; a phase whose calls did not all go to the v4 path is a miss. */
  const throughputV4 = (summary, refKey, label) => {
    const ratio = summary.ratio.ours;
    add(
      label,
      ratio.median,
      `≥ ${TARGETS.throughputRatio}, every RTI call on v4`,
      ratio.median >= TARGETS.throughputRatio &&
        summary.v4Calls.ours.onlyV4 &&
        summary.v4Calls[refKey].onlyV4,
      `${rounds(ratio)}; ours protected ${protectedNote(summary.median.ours)}; ours ${v4CallsNote(summary, 'ours')}, reference ${v4CallsNote(summary, refKey)}`,
    );
  };
  if (r.grpcV4) {
    throughputV4(
      r.grpcV4,
      'grpcUndiciV4',
      'gRPC Check throughput on RTI v4 / reference (2v4) grpc-undici-v4',
    );
  }
  if (r.httpV4) {
    throughputV4(
      r.httpV4,
      'httpUndiciV4',
      'HTTP auth-request throughput on RTI v4 / reference (4v4) http-undici-v4',
    );
  }
  if (r.atRate) fixedRateVerdicts(r.atRate, add);
  if (r.atRateH2load) h2loadRateVerdict(r.atRateH2load, add);
  if (r.hangAtRate) hangVerdicts(r, add);
  if (r.protection) protectionVerdicts(r.protection, add);

  const saturated = [
    r.grpc?.median.ours,
    r.http?.median.ours,
    r.grpcV4?.median.ours,
    r.httpV4?.median.ours,
    ...Object.values(r.hangSaturation?.ours.median ?? {}),
  ];
  const rss = Math.max(...saturated.filter(Boolean).map(x => x.rssMaxMb));
  if (Number.isFinite(rss)) {
    add(
      'RSS at saturation (max sampled)',
      `${rss} MB`,
      `≤ ${TARGETS.rssMb} MB`,
      rss <= TARGETS.rssMb,
    );
  }
  if (r.workers) {
    const scaling = r.workers.ratio.workers2;
    add(
      'WORKERS=2 throughput / WORKERS=1 (all cores shared with the load generator)',
      scaling.median,
      'measured',
      undefined,
      `${Math.round(r.workers.median.workers1.reqPerS)} → ${Math.round(r.workers.median.workers2.reqPerS)} req/s; rounds ${scaling.rounds.join(', ')}`,
    );
  }
  if (r.million) {
    const { series } = r.million;
    const from = series[Math.min(1, series.length - 1)];
    const last = series.at(-1);
    const growth = (last.rssMb - from.rssMb) / from.rssMb;
    add(
      `RSS flat over ${r.million.checks} checks (from ${from.checks} checks to the end)`,
      `${from.rssMb} → ${last.rssMb} MB (${Math.round(growth * 1000) / 10}%)`,
      `≤ ${TARGETS.rssGrowthRatio * 100}%`,
      growth <= TARGETS.rssGrowthRatio,
    );
  } else {
    add('RSS flat after 1 million checks', 'not run', 'BENCH_MILLION=1', undefined);
  }
  return out;
}

function fixedRateVerdicts(atRate, add) {
  const { ours, grpcUndici, grpcBare } = atRate.median;
  const added = atRate.rounds.map(round =>
    round3(round.ours.normal.latencyMs.p99 - round.grpcUndici.normal.latencyMs.p99),
  );
  const addedMedian = median(added);
  add(
    `added p99 latency over the RTI call at ${atRate.rounds[0].ours.options.rate}/s (ours p99 − reference (2) p99, median of rounds)`,
    `${addedMedian} ms`,
    `≤ ${TARGETS.addedP99Ms} ms`,
    addedMedian <= TARGETS.addedP99Ms,
    `rounds ${added.join(', ')} ms; p99 ours ${ours.normal.latencyMs.p99}, (2) ${grpcUndici.normal.latencyMs.p99}, floor (1) ${grpcBare.normal.latencyMs.p99} ms; p50 ours − (2) ${round3(ours.normal.latencyMs.p50 - grpcUndici.normal.latencyMs.p50)} ms`,
  );
  add(
    'every check at the fixed rate answered OK (allow)',
    `${ours.normal.ok}/${ours.normal.sent}`,
    'all',
    ours.normal.ok === ours.normal.sent,
    `reference (2): ${grpcUndici.normal.ok}/${grpcUndici.normal.sent}`,
  );
}

/** The added p99 again, from h2load at the same rate: informative, next to the grpc-js figure. */
function h2loadRateVerdict(atRate, add) {
  const p99 = key => atRate.median[key].latencyMs.p99;
  const added = atRate.rounds.map(round =>
    round3(round.ours.latencyMs.p99 - round.grpcUndici.latencyMs.p99),
  );
  add(
    `added p99 latency, same rate from h2load --rps (ours p99 − reference (2) p99, median of rounds)`,
    `${median(added)} ms`,
    `≤ ${TARGETS.addedP99Ms} ms`,
    undefined,
    `rounds ${added.join(', ')} ms; p99 ours ${p99('ours')}, (2) ${p99('grpcUndici')}, floor (1) ${p99('grpcBare')} ms; ours failed open ${atRate.median.ours.decisions?.fail_open ?? 0}, h2load failed ${atRate.median.ours.failed}`,
  );
}

/** "99.95 % (fail-open: rti_timeout 3, cancelled 1)" from a counted window or summary. */
function protectedNote(x) {
  const p = x.protection;
  if (!p) return '–';
  const causes = Object.entries(p.failOpenByCause).map(([cause, n]) => `${cause} ${n}`);
  return `${sharePct(p.share)} %${causes.length ? ` (fail-open: ${causes.join(', ')})` : ''}`;
}

function protectionVerdicts(p, add) {
  const counts = x =>
    `h2load sent ${x.clientSent}, got ${x.clientDone} answers; our server decided ${x.serverChecks}${countsDiffer(x) ? ' [!] counts do not add up' : ''}`;
  const share = (label, x, limit, extra = '') =>
    add(
      label,
      `${sharePct(x.share)} %`,
      `≥ ${limit * 100} %`,
      x.share >= limit,
      `rounds ${x.shareRounds.join(', ')} %; protected ${protectedNote(x)}; ${counts(x)}${extra}`,
    );
  share(
    `fresh process at 1/3 of capacity (${p.rates.fresh}/s), first ${p.freshS} s after /readyz: protected share (all rounds)`,
    p.fresh,
    TARGETS.freshProtectedShare,
    `; ready ${p.fresh.readyAfterSpawnMs.join(', ')} ms after spawn`,
  );
  for (const [key, load] of [
    ['load30', 30],
    ['load60', 60],
    ['load90', 90],
  ]) {
    share(
      `${load} % of capacity (${p.rates[key]}/s), steady: protected share (all rounds)`,
      p[key],
      TARGETS.steadyProtectedShare,
    );
  }
  const sat = p.saturation;
  const tripped = sat.protection.failOpenByCause.rti_circuit_open ?? 0;
  add(
    'saturation (h2load, 128 in flight): rti_circuit_open fail-opens (all rounds)',
    tripped,
    '0',
    tripped === 0,
    `${Math.round(sat.checksPerS)} checks/s, ${sat.verdictsPerS} verdicts/s, protected ${protectedNote(sat)}; ${counts(sat)}`,
  );
  const over = p.overload150;
  const ratios = over.rounds.map((w, i) => {
    const satRound = sat.rounds[Math.min(i, sat.rounds.length - 1)];
    return satRound.verdictsPerS > 0 ? round3(w.verdictsPerS / satRound.verdictsPerS) : '–';
  });
  // No verdict at saturation makes any ratio meaningless: that is a miss, not a pass.
  const ratio = sat.verdictsPerS > 0 ? round3(over.verdictsPerS / sat.verdictsPerS) : undefined;
  add(
    `150 % of capacity offered (${p.rates.overload150}/s): verdicts/s ÷ saturation verdicts/s (all rounds)`,
    ratio ?? `${over.verdictsPerS} verdicts/s, none at saturation`,
    `≥ ${TARGETS.overloadVerdictsRatio}`,
    ratio >= TARGETS.overloadVerdictsRatio,
    `${over.verdictsPerS} ÷ ${sat.verdictsPerS} verdicts/s; round by round ${ratios.join(', ')}; ÷ capacity (${p.capacity} checks/s) ${round3(over.verdictsPerS / p.capacity)}; protected ${protectedNote(over)}; ${counts(over)}; ${over.notSent} arrivals still queued in h2load at the ends`,
  );
}

/**
 * The counts do not add up: our server decided checks h2load never sent, or the checks screened
 * (decided, plus answered without a decision) differ from the answers h2load got by more than
 * the streams it dropped at its end.
 */
const countsDiffer = x => {
  const slack = Math.max(5, 0.005 * x.clientSent);
  return (
    x.serverChecks > x.clientSent + slack ||
    Math.abs(x.protection.screened - x.clientDone) > x.clientSent - x.clientDone + slack
  );
};

function hangVerdicts(r, add) {
  const rounds = ratio => `rounds ${ratio.rounds.join(', ')}`;
  const hung = r.hangAtRate.median.ours.hang;
  const refHung = r.hangAtRate.median.grpcUndici.hang;
  const hungLimit = config.timeoutMs + TARGETS.hangSlackP99Ms;
  add(
    `hung RTI: checks allowed at timeout + ≤ ${TARGETS.hangSlackP99Ms} ms p99 (median of rounds)`,
    `${hung.latencyMs.p99} ms, ${hung.ok}/${hung.sent} allowed`,
    `≤ ${hungLimit} ms, all allowed`,
    hung.latencyMs.p99 <= hungLimit && hung.ok === hung.sent,
    `rounds ${hung.p99Rounds.join(', ')} ms; reference (2) with the same hangs: ${refHung.latencyMs.p99} ms, ${refHung.ok}/${refHung.sent}`,
  );
  const held = r.hangAtRate.median.ours.hungHeldMs;
  const refHeld = r.hangAtRate.median.grpcUndici.hungHeldMs;
  if (held) {
    add(
      `hung RTI, as the RTI stand-in sees it: request held until aborted, p99 (median of rounds)`,
      `${held.p99} ms`,
      `≤ ${hungLimit} ms`,
      held.p99 <= hungLimit,
      `rounds ${held.p99Rounds.join(', ')} ms, p50 ${held.p50} ms; reference (2): p50 ${refHeld?.p50}, p99 ${refHeld?.p99} ms`,
    );
  }
  const others = r.hangAtRate.median.ours.normal;
  add(
    'hung RTI: the other checks at the fixed rate all answered OK',
    `${others.ok}/${others.sent}, p99 ${others.latencyMs.p99} ms`,
    `all${r.atRate ? ` (p99 without hangs ${r.atRate.median.ours.normal.latencyMs.p99} ms)` : ''}`,
    others.ok === others.sent,
  );
  const hangSat = r.hangSaturation.ours.ratio.hung;
  const refHangSat = r.hangSaturation.reference.ratio.hung;
  add(
    `hung RTI (${config.hangRate}/s): other checks' saturation throughput / without hangs`,
    hangSat.median,
    `≥ ${TARGETS.hangOthersThroughputRatio}`,
    hangSat.median >= TARGETS.hangOthersThroughputRatio,
    `${rounds(hangSat)}; reference (2) with the same hangs: ${refHangSat.median} (${rounds(refHangSat)})`,
  );
}

function printReport({ environment: e, config: c, results: r, verdicts: v }) {
  const rows = [];
  // The server core busier than the server itself: something else ran there.
  const shared = x =>
    x.serverCpuPct !== undefined && x.coreBusyPct?.[c.serverCpu] - x.serverCpuPct > 3
      ? ' [!] server core shared'
      : '';
  // The load core nearly full: latencies then include the client's own queueing.
  const loadBusy = x =>
    x.coreBusyPct?.[c.loadCpu] > LOAD_CORE_BUSY_PCT ? ' [!] load core busy' : '';
  const held = x =>
    x.hungHeldMs ? `; RTI side held p50/p99 ${x.hungHeldMs.p50}/${x.hungHeldMs.p99} ms` : '';
  const failOpen = x =>
    x.decisions === undefined ? '' : `, fail_open ${x.decisions.fail_open ?? 0}`;
  const cpuCells = x => [fmt(x.rssMaxMb), ...observedCells(x, c)];
  /** A row of h2load/wrk medians: req/s, latency, what was observed, then ratio and notes. */
  const protectedCell = x => fmt(sharePct(x.protection?.share));
  const loadRow = (name, x, ratio, notes) =>
    rows.push([
      name,
      fmt(Math.round(x.reqPerS)),
      protectedCell(x),
      fmt(x.latencyMs?.p50),
      fmt(x.latencyMs?.p99),
      ...cpuCells(x),
      ratio,
      notes,
    ]);
  const sat = (name, summary, key, notes = '') => {
    const x = summary.median[key];
    loadRow(
      name,
      x,
      fmt(summary.ratio[key].median),
      `${x.reqPerSRounds.map(Math.round).join('/')}${notes}${failOpen(x)}${shared(x)}`,
    );
  };
  const rated = (name, x, kind = 'normal') => {
    const s = x[kind];
    rows.push([
      name,
      fmt(Math.round(s.ratePerS)),
      kind === 'normal' ? protectedCell(x) : '',
      fmt(s.latencyMs.p50),
      fmt(s.latencyMs.p99),
      ...(kind === 'normal' ? cpuCells(x) : ['', '', '', '']),
      '',
      kind === 'normal'
        ? `p99.9 ${s.latencyMs.p999}, ok ${s.ok}/${s.sent}${failOpen(x)}${shared(x)}${loadBusy(x)}`
        : `max ${s.latencyMs.max}, allowed ${s.ok}/${s.sent}${held(x)}`,
    ]);
  };
  /** Median over rounds of ours ÷ a bare reference (the price of the RTI call and our code). */
  const versus = (summary, refKey, label) =>
    `; vs ${label} ${median(summary.rounds.map(round => round3(round.ours.reqPerS / round[refKey].reqPerS)))}`;
  if (r.grpc) {
    sat('gRPC ours', r.grpc, 'ours', versus(r.grpc, 'grpcBare', '(1)'));
    sat('gRPC (2) grpc-js + undici', r.grpc, 'grpcUndici');
    sat('gRPC (1) bare grpc-js', r.grpc, 'grpcBare');
  }
  /** A v4 row: its note says how many of the RTI calls went to the v4 path. */
  const satV4 = (name, summary, key) => sat(name, summary, key, `; ${v4CallsNote(summary, key)}`);
  if (r.grpcV4) {
    satV4('gRPC v4 ours', r.grpcV4, 'ours');
    satV4('gRPC v4 (2v4) grpc-js + undici', r.grpcV4, 'grpcUndiciV4');
  }
  if (r.http) {
    sat('HTTP ours', r.http, 'ours', versus(r.http, 'httpBare', '(3)'));
    sat('HTTP (4) node:http + undici', r.http, 'httpUndici');
    sat('HTTP (3) bare node:http', r.http, 'httpBare');
  }
  if (r.httpV4) {
    satV4('HTTP v4 ours', r.httpV4, 'ours');
    satV4('HTTP v4 (4v4) node:http + undici', r.httpV4, 'httpUndiciV4');
  }
  if (r.atRate) {
    const rate = r.atRate.rounds[0].ours.options.rate;
    rated(`gRPC ours @${rate}/s`, r.atRate.median.ours);
    rated(`gRPC (2) @${rate}/s`, r.atRate.median.grpcUndici);
    rated(`gRPC (1) @${rate}/s`, r.atRate.median.grpcBare);
  }
  if (r.atRateH2load) {
    const { rate } = r.atRateH2load;
    const h2Rated = (name, key) => {
      const x = r.atRateH2load.median[key];
      loadRow(
        name,
        x,
        '',
        `p99.9 ${x.latencyMs?.p999}, h2load failed ${x.failed}${failOpen(x)}${shared(x)}${loadBusy(x)}`,
      );
    };
    h2Rated(`gRPC ours @${rate}/s h2load`, 'ours');
    h2Rated(`gRPC (2) @${rate}/s h2load`, 'grpcUndici');
    h2Rated(`gRPC (1) @${rate}/s h2load`, 'grpcBare');
  }
  if (r.hangAtRate) {
    const rate = r.hangAtRate.rounds[0].ours.options.rate;
    rated(`gRPC ours @${rate}/s + hung`, r.hangAtRate.median.ours);
    rated(`  hung checks @${c.hangRate}/s`, r.hangAtRate.median.ours, 'hang');
    rated(`gRPC (2) @${rate}/s + hung`, r.hangAtRate.median.grpcUndici);
    rated(`  hung checks @${c.hangRate}/s`, r.hangAtRate.median.grpcUndici, 'hang');
    sat('gRPC ours sat., no hangs', r.hangSaturation.ours, 'plain');
    sat(`gRPC ours sat. + ${c.hangRate}/s hung`, r.hangSaturation.ours, 'hung');
    sat('gRPC (2) sat., no hangs', r.hangSaturation.reference, 'plain');
    sat(`gRPC (2) sat. + ${c.hangRate}/s hung`, r.hangSaturation.reference, 'hung');
  }

  const header = [
    'target',
    'req/s',
    'prot %',
    'p50 ms',
    'p99 ms',
    'RSS MB',
    ...observedHeader(c),
    'ratio',
    'rounds req/s; notes',
  ];
  console.log(
    `\ncheq-rti-authz bench — node ${e.node}, ${e.cpus}× ${e.cpu}, commit ${e.commit}, load avg before ${e.loadAverageBefore.join(' ')}`,
  );
  console.log(
    `server core ${c.serverCpu} (one target driven at a time); load generators on core ${c.loadCpu}, RTI stand-in (${c.rtiLatencyMs} ms) on core ${c.rtiCpu}. ${c.rounds} interleaved rounds of ${c.durationS} s (latency ${c.latencyDurationS} s) per target; medians shown. h2load -c${c.h2Clients} -m${c.h2Streams}, wrk -c${c.wrkConnections}; ours runs with node ${c.ourNodeArgs.join(' ') || '(no flags)'}, the references with ${c.referenceNodeArgs.join(' ') || '(no flags)'}. ratio = median over rounds of req/s ÷ the reference with an RTI call (v4 rows: ours with CHEQ_API_VERSION=v4 ÷ the reference making the v4 JSON call, in rounds of their own; hang rows: ÷ ours without hangs).\n`,
  );
  if (rows.length > 0) {
    console.log(
      "prot % = our server's protected share: checks answered from an RTI verdict ÷ checks screened (verdicts, fail-opens of any cause, answers without a decision; not the streams h2load drops at its end).\n",
    );
    printTable(header, rows);
  }
  if (r.protection) printProtection(r.protection, c, { shared, loadBusy });
  if (r.million) {
    console.log(
      `\nRSS over ${r.million.checks} checks (MB): ${r.million.series.map(s => s.rssMb).join(' → ')}`,
    );
  }
  console.log('\ntargets:');
  for (const x of v) {
    const mark = x.pass === true ? 'PASS' : x.pass === false ? 'FAIL' : 'info';
    console.log(
      `  ${mark}  ${x.target}: ${x.measured} (target ${x.limit})${x.note ? ` — ${x.note}` : ''}`,
    );
  }
}

const fmt = x => (x === undefined || Number.isNaN(x) ? '–' : String(x));

/** What observe() saw: the server process's CPU and how busy the two cores were. */
const observedHeader = c => ['srv CPU%', `cpu${c.serverCpu} %`, `cpu${c.loadCpu} %`];
const observedCells = (x, c) => [
  fmt(x.serverCpuPct),
  fmt(x.coreBusyPct?.[c.serverCpu]),
  fmt(x.coreBusyPct?.[c.loadCpu]),
];

/** Columns padded to their widest cell: the first and the last left-aligned, the others right. */
function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(x => x[i].length)));
  const line = cells =>
    cells
      .map((cell, i) =>
        i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]),
      )
      .join('  ');
  console.log(line(header));
  console.log(line(widths.map(w => '-'.repeat(w))));
  for (const cells of rows) console.log(line(cells));
}

function printProtection(p, c, { shared, loadBusy }) {
  const causes = x =>
    Object.entries(x.protection.failOpenByCause)
      .map(([cause, n]) => `${cause} ${n}`)
      .join(', ') || 'none';
  const row = (name, x, notes = '') => [
    name,
    fmt(x.offeredPerS),
    fmt(Math.round(x.checksPerS)),
    fmt(x.verdictsPerS),
    fmt(sharePct(x.share)),
    x.shareRounds.join('/'),
    `${x.clientSent}/${x.clientDone}/${x.serverChecks}${countsDiffer(x) ? ' [!]' : ''}`,
    ...observedCells(x, c),
    `fail-open: ${causes(x)}${notes}${shared(x)}${loadBusy(x)}`,
  ];
  const fixed = `h2load --rps, -c${c.protectClients} -m${c.protectStreams}`;
  console.log(
    `\nprotection — our server as shipped (circuit breaker on), RTI stand-in ${c.rtiLatencyMs} ms; capacity ${p.capacity} checks/s (${p.capacityFrom}); ${fixed} at fixed rates. checks/s: answers h2load received per second; verdicts/s: checks our server answered from an RTI verdict per second; prot %: all rounds pooled, then per round; sent/answered/decided: checks h2load sent, answers it got, checks our server decided ([!]: they do not add up); fail-open undecided: answered without our server deciding (grpc-js's own DEADLINE_EXCEEDED).\n`,
  );
  printTable(
    [
      'window',
      'offered/s',
      'checks/s',
      'verdicts/s',
      'prot %',
      'rounds prot %',
      'sent/answered/decided',
      ...observedHeader(c),
      'notes (fail-opens summed over rounds)',
    ],
    [
      row(
        `fresh process, first ${p.freshS} s`,
        p.fresh,
        `; ready ${p.fresh.readyAfterSpawnMs.join('/')} ms after spawn`,
      ),
      row('30 % of capacity', p.load30),
      row('60 % of capacity', p.load60),
      row('90 % of capacity', p.load90),
      row(`saturation (${c.h2Clients * c.h2Streams} in flight)`, p.saturation),
      row('150 % offered', p.overload150, `; ${p.overload150.notSent} still queued in h2load`),
    ],
  );
}

main().catch(err => {
  console.error(err);
  killChildren();
  process.exitCode = 2;
});
