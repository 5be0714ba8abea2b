// `npm run bench`: throughput, latency and memory of cheq-rti-authz against reference servers
// measured in the same run (see bench/README.md). The server under test and each reference get
// one core alone (BENCH_SERVER_CPU); the load generators, the RTI stand-in and this script
// share the other (BENCH_LOAD_CPU). Loopback only; every load is bounded in time or count.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import {
  RESULTS_DIR,
  ROOT,
  TARGETS,
  config,
  counted,
  h2load,
  killChildren,
  killChildrenOnExit,
  log,
  memoryMetrics,
  observe,
  preflight,
  prepareWorkDir,
  rateClient,
  round3,
  rssMb,
  startOurs,
  startReference,
  staleSources,
  startStandIn,
  wrk,
} from './harness.mjs';

// ---------------------------------------------------------------------------------------------
// The run

async function main() {
  preflight();
  killChildrenOnExit();
  const work = prepareWorkDir();
  const startedAt = new Date();
  const loadBefore = loadavg();
  log(`load average before: ${loadBefore.map(x => x.toFixed(2)).join(' ')}`);
  const standIn = await startStandIn();
  const rtiUrl = standIn.url;
  const results = {};
  try {
    results.ours = await benchOurs(work, rtiUrl);
    const rate = Math.round(results.ours.grpc.reqPerS * config.rateFraction);
    results.grpcUndici = await benchReference('grpc-undici', rtiUrl, async (ref, port) => ({
      grpc: await counted(rtiUrl, undefined, () => observe(ref.pid, () => h2load(work.dir, port))),
      atRate: await counted(rtiUrl, undefined, () =>
        observe(ref.pid, () => rateClient(port, { rate, durationS: config.latencyDurationS })),
      ),
      hangAtRate: await counted(rtiUrl, undefined, () =>
        observe(ref.pid, () =>
          rateClient(port, { rate, hangRate: config.hangRate, durationS: config.latencyDurationS }),
        ),
      ),
    }));
    results.grpcBare = await benchReference('grpc-bare', rtiUrl, async (ref, port) => ({
      grpc: await observe(ref.pid, () => h2load(work.dir, port)),
      atRate: await observe(ref.pid, () =>
        rateClient(port, { rate, durationS: config.latencyDurationS }),
      ),
    }));
    results.httpUndici = await benchReference('http-undici', rtiUrl, async (ref, port) => ({
      http: await counted(rtiUrl, undefined, () => observe(ref.pid, () => wrk(work.dir, port))),
    }));
    results.httpBare = await benchReference('http-bare', rtiUrl, async (ref, port) => ({
      http: await observe(ref.pid, () => wrk(work.dir, port)),
    }));
  } finally {
    await standIn.stop();
    work.remove();
  }

  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: environment(loadBefore),
    config,
    results,
    verdicts: verdicts(results),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'latest.json');
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(
    join(RESULTS_DIR, `run-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`),
    `${JSON.stringify(report, null, 2)}\n`,
  );
  printReport(report);
  console.log(`\nresults: ${file}`);
  if (report.verdicts.some(v => v.pass === false)) process.exitCode = 1;
}

async function benchOurs(work, rtiUrl) {
  log('our server: starting (dist/main.js)');
  const ours = await startOurs(rtiUrl);
  const { grpcPort, httpPort, metricsPort } = ours.info;
  const phase = (name, fn) => {
    log(`our server: ${name}`);
    return counted(rtiUrl, metricsPort, () => observe(ours.pid, fn));
  };
  try {
    const out = {
      pid: ours.pid,
      rssIdleMb: rssMb(ours.pid),
      memoryIdle: await memoryMetrics(metricsPort),
    };
    out.grpc = await phase('gRPC saturation (h2load)', () => h2load(work.dir, grpcPort));
    out.http = await phase('HTTP auth-request saturation (wrk)', () => wrk(work.dir, httpPort));
    const rate = Math.round(out.grpc.reqPerS * config.rateFraction);
    out.atRate = await phase(`gRPC at ${rate}/s (grpc-js, open loop)`, () =>
      rateClient(grpcPort, { rate, durationS: config.latencyDurationS }),
    );
    out.hangAtRate = await phase(`RTI hanging for ${config.hangRate}/s, others at ${rate}/s`, () =>
      rateClient(grpcPort, { rate, hangRate: config.hangRate, durationS: config.latencyDurationS }),
    );
    out.hangSaturation = await phase(
      `RTI hanging for ${config.hangRate}/s during gRPC saturation`,
      async () => {
        const [saturation, hung] = await Promise.all([
          h2load(work.dir, grpcPort),
          rateClient(grpcPort, {
            rate: 0,
            hangRate: config.hangRate,
            warmupS: 0,
            durationS: config.durationS + config.warmupS,
          }),
        ]);
        return { ...saturation, hung: hung.hang };
      },
    );
    if (config.million) out.million = await millionChecks(work, ours, grpcPort);
    out.rssAfterMb = rssMb(ours.pid);
    out.memoryAfter = await memoryMetrics(metricsPort);
    out.logLinesWhileLoaded = ours.tail.length;
    return out;
  } finally {
    const code = await ours.stop();
    if (code !== 0) log(`our server exited with ${code}:\n${ours.tail.slice(-5).join('\n')}`);
  }
}

/** 1 million checks in chunks, RSS sampled after each: memory must stay flat. */
async function millionChecks(work, ours, grpcPort) {
  const chunk = Math.ceil(config.millionChecks / config.millionChunks);
  const series = [];
  let checks = 0;
  const started = Date.now();
  for (let i = 0; i < config.millionChunks; i++) {
    const result = await h2load(work.dir, grpcPort, { requests: chunk });
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

async function benchReference(kind, rtiUrl, run) {
  log(`reference ${kind}: starting`);
  const ref = await startReference(kind, rtiUrl);
  try {
    return { rssIdleMb: rssMb(ref.pid), ...(await run(ref, ref.info.port)) };
  } finally {
    await ref.stop();
  }
}

function environment(loadBefore) {
  let commit;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (dirty.trim()) commit += '+dirty-src';
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
  const ratio = (a, b) => Math.round((a / b) * 1000) / 1000;

  const grpcRatio = ratio(r.ours.grpc.reqPerS, r.grpcUndici.grpc.reqPerS);
  add(
    'gRPC Check throughput / reference (2) grpc-undici',
    grpcRatio,
    `≥ ${TARGETS.throughputRatio}`,
    grpcRatio >= TARGETS.throughputRatio,
  );
  const httpRatio = ratio(r.ours.http.reqPerS, r.httpUndici.http.reqPerS);
  add(
    'HTTP auth-request throughput / reference (4) http-undici',
    httpRatio,
    `≥ ${TARGETS.throughputRatio}`,
    httpRatio >= TARGETS.throughputRatio,
  );

  const oursP99 = r.ours.atRate.normal.latencyMs.p99;
  const refP99 = r.grpcUndici.atRate.normal.latencyMs.p99;
  const added = round3(oursP99 - refP99);
  add(
    `added p99 latency over the RTI call at ${r.ours.atRate.options.rate}/s (ours p99 − reference (2) p99)`,
    `${added} ms`,
    `≤ ${TARGETS.addedP99Ms} ms`,
    added <= TARGETS.addedP99Ms,
    `ours p99 ${oursP99} ms, reference (2) p99 ${refP99} ms, floor (1) p99 ${r.grpcBare.atRate.normal.latencyMs.p99} ms; p50 ours − (2): ${round3(r.ours.atRate.normal.latencyMs.p50 - r.grpcUndici.atRate.normal.latencyMs.p50)} ms`,
  );
  const answered = r.ours.atRate.normal;
  const refAnswered = r.grpcUndici.atRate.normal;
  add(
    'every check at the fixed rate answered OK (allow)',
    `${answered.ok}/${answered.sent}`,
    'all',
    answered.ok === answered.sent,
    `reference (2): ${refAnswered.ok}/${refAnswered.sent}`,
  );

  const hung = r.ours.hangAtRate.hang;
  const hungLimit = config.timeoutMs + TARGETS.hangSlackP99Ms;
  add(
    `hung RTI: checks answered (allow) at timeout + ≤ ${TARGETS.hangSlackP99Ms} ms p99`,
    `${hung.latencyMs.p99} ms (${hung.ok}/${hung.sent} allowed)`,
    `≤ ${hungLimit} ms, all allowed`,
    hung.latencyMs.p99 <= hungLimit && hung.ok === hung.sent,
    `reference (2) with the same hangs: p99 ${r.grpcUndici.hangAtRate?.hang.latencyMs.p99} ms`,
  );
  const others = r.ours.hangAtRate.normal;
  add(
    'hung RTI: other checks at the fixed rate, p99 vs. without hangs',
    `${others.latencyMs.p99} ms (${others.ok}/${others.sent} OK)`,
    `baseline ${r.ours.atRate.normal.latencyMs.p99} ms`,
    others.ok === others.sent ? undefined : false,
    'informational unless answers failed',
  );
  const hangThroughput = ratio(r.ours.hangSaturation.reqPerS, r.ours.grpc.reqPerS);
  add(
    `hung RTI (${config.hangRate}/s): other checks' saturation throughput / without hangs`,
    hangThroughput,
    `≥ ${TARGETS.hangOthersThroughputRatio}`,
    hangThroughput >= TARGETS.hangOthersThroughputRatio,
  );

  const rss = Math.max(r.ours.grpc.rssMaxMb, r.ours.http.rssMaxMb, r.ours.hangSaturation.rssMaxMb);
  add(
    'RSS at saturation (max sampled)',
    `${rss} MB`,
    `≤ ${TARGETS.rssMb} MB`,
    rss <= TARGETS.rssMb,
  );
  if (r.ours.million) {
    const { series } = r.ours.million;
    const base = series[Math.min(1, series.length - 1)].rssMb;
    const last = series.at(-1).rssMb;
    const growth = ratio(last - base, base);
    add(
      `RSS flat over ${r.ours.million.checks} checks (growth from ${series[Math.min(1, series.length - 1)].checks} checks to the end)`,
      `${base} → ${last} MB (${Math.round(growth * 1000) / 10}%)`,
      `≤ ${TARGETS.rssGrowthRatio * 100}%`,
      growth <= TARGETS.rssGrowthRatio,
    );
  } else {
    add('RSS flat after 1 million checks', 'not run', 'BENCH_MILLION=1', undefined);
  }
  return out;
}

function printReport({ environment: e, config: c, results: r, verdicts: v }) {
  const fmt = x => (x === undefined || Number.isNaN(x) ? '–' : String(x));
  // The server core busier than the server itself: something else ran there during the phase.
  const shared = x =>
    x.serverCpuPct !== undefined && x.coreBusyPct?.[c.serverCpu] - x.serverCpuPct > 3
      ? ' [!] server core shared'
      : '';
  // Our server's own count: fail-opens during a saturation phase mean the numbers flatter it.
  const failOpen = x =>
    x.decisions === undefined ? '' : `, fail_open ${x.decisions.fail_open ?? 0}`;
  const rows = [];
  const row = (target, x, ref, notes = '') =>
    rows.push([
      target,
      fmt(Math.round(x.reqPerS ?? x.normal?.ratePerS)),
      fmt(x.latencyMs?.p50 ?? x.normal?.latencyMs.p50),
      fmt(x.latencyMs?.p99 ?? x.normal?.latencyMs.p99),
      fmt(x.rssMaxMb),
      fmt(x.serverCpuPct),
      fmt(x.coreBusyPct?.[c.serverCpu]),
      fmt(x.coreBusyPct?.[c.loadCpu]),
      ref === undefined ? '' : fmt(Math.round(((x.reqPerS ?? 0) / ref) * 1000) / 1000),
      `${notes}${shared(x)}`,
    ]);
  row(
    'gRPC ours',
    r.ours.grpc,
    r.grpcUndici.grpc.reqPerS,
    `vs (1): ${(r.ours.grpc.reqPerS / r.grpcBare.grpc.reqPerS).toFixed(3)}${failOpen(r.ours.grpc)}`,
  );
  row('gRPC (2) grpc-js + undici', r.grpcUndici.grpc, r.grpcUndici.grpc.reqPerS);
  row('gRPC (1) bare grpc-js', r.grpcBare.grpc, r.grpcUndici.grpc.reqPerS);
  row(
    'HTTP ours',
    r.ours.http,
    r.httpUndici.http.reqPerS,
    `vs (3): ${(r.ours.http.reqPerS / r.httpBare.http.reqPerS).toFixed(3)}${failOpen(r.ours.http)}`,
  );
  row('HTTP (4) node:http + undici', r.httpUndici.http, r.httpUndici.http.reqPerS);
  row('HTTP (3) bare node:http', r.httpBare.http, r.httpUndici.http.reqPerS);
  const rate = r.ours.atRate.options.rate;
  const atRate = (name, x) =>
    rows.push([
      name,
      fmt(Math.round(x.normal.ratePerS)),
      fmt(x.normal.latencyMs.p50),
      fmt(x.normal.latencyMs.p99),
      fmt(x.rssMaxMb),
      fmt(x.serverCpuPct),
      fmt(x.coreBusyPct?.[c.serverCpu]),
      fmt(x.coreBusyPct?.[c.loadCpu]),
      '',
      `p99.9 ${x.normal.latencyMs.p999}, ok ${x.normal.ok}/${x.normal.sent}${failOpen(x)}${shared(x)}`,
    ]);
  atRate(`gRPC ours @${rate}/s`, r.ours.atRate);
  atRate(`gRPC (2) @${rate}/s`, r.grpcUndici.atRate);
  atRate(`gRPC (1) @${rate}/s`, r.grpcBare.atRate);
  atRate(`gRPC ours @${rate}/s + hung`, r.ours.hangAtRate);
  const hungRow = (name, h) =>
    rows.push([
      name,
      fmt(Math.round(h.ratePerS)),
      fmt(h.latencyMs.p50),
      fmt(h.latencyMs.p99),
      '',
      '',
      '',
      '',
      '',
      `max ${h.latencyMs.max}, allowed ${h.ok}/${h.sent}`,
    ]);
  hungRow(`  hung checks @${c.hangRate}/s`, r.ours.hangAtRate.hang);
  atRate(`gRPC (2) @${rate}/s + hung`, r.grpcUndici.hangAtRate);
  hungRow(`  hung checks @${c.hangRate}/s`, r.grpcUndici.hangAtRate.hang);
  row(
    'gRPC ours sat. + hung',
    r.ours.hangSaturation,
    r.ours.grpc.reqPerS,
    `ratio vs ours sat.; hung p99 ${r.ours.hangSaturation.hung?.latencyMs.p99}${failOpen(r.ours.hangSaturation)}`,
  );

  const header = [
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'RSS MB',
    'srv CPU%',
    `cpu${c.serverCpu} %`,
    `cpu${c.loadCpu} %`,
    'ratio',
    'notes',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(x => x[i].length)));
  const line = cells =>
    cells
      .map((cell, i) => (i === 0 || i === 9 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ');
  console.log(
    `\ncheq-rti-authz bench — node ${e.node}, ${e.cpus}× ${e.cpu}, commit ${e.commit}, load avg before ${e.loadAverageBefore.join(' ')}`,
  );
  console.log(
    `server on CPU ${c.serverCpu} alone; load generators + RTI stand-in (${c.rtiLatencyMs} ms) on CPU ${c.loadCpu}. h2load -c${c.h2Clients} -m${c.h2Streams}, wrk -c${c.wrkConnections}, ${c.durationS} s after ${c.warmupS} s warm-up; ratio = req/s ÷ reference with RTI call.\n`,
  );
  console.log(line(header));
  console.log(line(widths.map(w => '-'.repeat(w))));
  for (const cells of rows) console.log(line(cells));
  if (r.ours.million) {
    console.log(
      `\nRSS over ${r.ours.million.checks} checks (MB): ${r.ours.million.series.map(s => s.rssMb).join(' → ')}`,
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

main().catch(err => {
  console.error(err);
  killChildren();
  process.exitCode = 2;
});
