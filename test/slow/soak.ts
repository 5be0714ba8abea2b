// `npm run soak`: the load test's mix at a fixed moderate rate for SOAK_MINUTES, against the
// built server in its own process, sampling its memory after a forced full GC every few
// seconds; then a flat-memory judgement. Exits 1 on a transport error, a wrong answer, an
// error log line, a crash, an unclean exit or memory growth. Loopback only.
//
//   SOAK_MINUTES=5 SOAK_RATE=300 SOAK_CONCURRENCY=64 SOAK_SAMPLE_SECONDS=5 npm run soak
//   SOAK_JSON=soak.json npm run soak     # also write the summary as JSON

import { writeFileSync } from 'node:fs';
import { FakeRti } from '../helpers/fake-rti-server';
import {
  LoadRun,
  LOAD_CASES,
  formatResult,
  installStandIn,
  loadServerEnv,
  percentile,
  round,
  serverFailOpens,
  startLoadServer,
  type MemorySample,
} from '../helpers/load';

const MIB = 2 ** 20;

function setting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name}=${raw}: not a positive number`);
  return value;
}

const MINUTES = setting('SOAK_MINUTES', 5);
const RATE = setting('SOAK_RATE', 300);
const CONCURRENCY = setting('SOAK_CONCURRENCY', 64);
const SAMPLE_SECONDS = setting('SOAK_SAMPLE_SECONDS', 5);
/** Same RTI budget as the CI load test: only the hanging case may time out. */
const TIMEOUT_MS = setting('SOAK_TIMEOUT_MS', 500);
/** Flat memory: heap after GC in the last third at most this much above the first third... */
const MAX_HEAP_GROWTH = setting('SOAK_MAX_HEAP_GROWTH_PCT', 10) / 100;
/** ...or this many bytes, whichever is larger (noise of a small heap: checks in flight). */
const HEAP_FLOOR = 2 * MIB;
/** RSS: the same comparison, looser (allocator and code-space noise). */
const MAX_RSS_GROWTH = setting('SOAK_MAX_RSS_GROWTH_PCT', 20) / 100;
const RSS_FLOOR = 16 * MIB;
/**
 * Checks failed open after the full RTI timeout instead of getting the stand-in's verdict
 * ("late": the stand-in shares the driver's process and starves on a busy box), at most.
 */
const MAX_LATE = setting('SOAK_MAX_LATE_PCT', 0.1) / 100;

interface Sample extends MemorySample {
  readonly elapsedS: number;
  readonly answered: number;
  /** p99 of the non-hanging cases answered since the previous sample. */
  readonly windowP99Ms: number;
}

async function main(): Promise<number> {
  const durationMs = MINUTES * 60_000;
  const warmupMs = Math.min(60_000, Math.max(15_000, durationMs * 0.2));
  const rti = await FakeRti.start();
  const standIn = installStandIn(rti, LOAD_CASES);
  const server = await startLoadServer(loadServerEnv(rti.url, TIMEOUT_MS), { gcProbe: true });
  const hanging = new Set(LOAD_CASES.filter(c => c.hangs).map(c => c.name));
  console.log(
    `soak: ${MINUTES} min at ${RATE} checks/s (concurrency ${CONCURRENCY}, gRPC and NGINX ` +
      `endpoint, RTI timeout ${TIMEOUT_MS} ms), server pid ${server.pid}, memory after a full GC ` +
      `every ${SAMPLE_SECONDS} s, warm-up ${warmupMs / 1000} s`,
  );

  let answered = 0;
  let window: number[] = [];
  const run = new LoadRun(server, {
    concurrency: CONCURRENCY,
    maxRequests: Math.ceil((RATE * durationMs) / 1000),
    durationMs,
    ratePerSecond: RATE,
    grpcChannels: 4,
    httpConnections: CONCURRENCY,
    seed: 42,
    errorBackoffMs: 10,
    rtiTimeoutMs: TIMEOUT_MS,
    onResult(result) {
      if (result.outcome === 'error') return;
      answered++;
      if (!hanging.has(result.caseName)) window.push(result.latencyMs);
    },
  });

  void server.exited.then(() => run.stop());
  const started = Date.now();
  const samples: Sample[] = [];
  const first = await server.memoryAfterGc();
  samples.push({ ...first, elapsedS: 0, answered: 0, windowP99Ms: NaN });
  let finished = false;
  void run.done.finally(() => (finished = true));
  while (!finished) {
    await Promise.race([run.done, sleep(SAMPLE_SECONDS * 1000)]);
    if (finished || server.child.exitCode !== null) break;
    const memory = await server.memoryAfterGc().catch(() => undefined);
    if (!memory) break;
    const sample: Sample = {
      ...memory,
      elapsedS: round((Date.now() - started) / 1000),
      answered,
      windowP99Ms: round(percentile(window, 99)),
    };
    window = [];
    samples.push(sample);
    console.log(
      `  ${String(sample.elapsedS).padStart(6)} s ${String(answered).padStart(8)} answers  ` +
        `rss ${mib(sample.rss)}  heap ${mib(sample.heapUsed)} / ${mib(sample.heapTotal)}  ` +
        `external ${mib(sample.external)}  p99 ${sample.windowP99Ms} ms`,
    );
  }
  const result = await run.done;
  const alive = server.child.exitCode === null;
  const failOpens = alive ? Object.fromEntries(serverFailOpens(await server.metrics())) : {};
  const exitCode = await server.stop();
  await rti.close();

  console.log(`\n${formatResult(result)}`);
  console.log(`server fail-opens by transport/cause: ${JSON.stringify(failOpens)}`);

  const steady = samples.filter(s => s.elapsedS * 1000 >= warmupMs);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const early = steady.slice(0, third);
  const late = steady.slice(-third);
  const median = (values: number[]): number => percentile(values, 50);
  const heapEarly = median(early.map(s => s.heapUsed));
  const heapLate = median(late.map(s => s.heapUsed));
  const rssEarly = median(early.map(s => s.rss));
  const rssLate = median(late.map(s => s.rss));
  const heapLimit = heapEarly + Math.max(heapEarly * MAX_HEAP_GROWTH, HEAP_FLOOR);
  const rssLimit = rssEarly + Math.max(rssEarly * MAX_RSS_GROWTH, RSS_FLOOR);
  const slope = regression(steady.map(s => [s.answered, s.heapUsed]));

  const rss = samples.map(s => s.rss);
  const summary = {
    settings: { minutes: MINUTES, rate: RATE, concurrency: CONCURRENCY, timeoutMs: TIMEOUT_MS },
    requests: result.sent,
    answered: result.right + result.late + result.wrong,
    throughputPerSecond: round(result.throughputPerSecond),
    wrong: result.wrong,
    late: result.late,
    lateSamples: result.lateSamples,
    errors: result.errors,
    errorKinds: result.errorKinds,
    wrongSamples: result.wrongSamples,
    slowFailOpens: result.slowFailOpens,
    serverFailOpens: failOpens,
    standInUnknownCalls: standIn.unknown,
    serverErrorLogLines: server.errorLines.length,
    serverAliveAtEnd: alive,
    serverExit: exitCode,
    byCase: result.byCase,
    memory: {
      samples: samples.length,
      warmupS: warmupMs / 1000,
      rssMiB: {
        start: mibNumber(rss[0]),
        min: mibNumber(Math.min(...rss)),
        max: mibNumber(Math.max(...rss)),
        end: mibNumber(rss[rss.length - 1]),
        firstThirdMedian: mibNumber(rssEarly),
        lastThirdMedian: mibNumber(rssLate),
        limit: mibNumber(rssLimit),
      },
      heapUsedAfterGcMiB: {
        start: mibNumber(samples[0]?.heapUsed),
        end: mibNumber(samples[samples.length - 1]?.heapUsed),
        firstThirdMedian: mibNumber(heapEarly),
        lastThirdMedian: mibNumber(heapLate),
        limit: mibNumber(heapLimit),
        slopeBytesPerRequest: round(slope, 2),
        slopeMiBPerMillionRequests: round((slope * 1e6) / MIB, 2),
      },
      windowP99Ms: samples.slice(1).map(s => s.windowP99Ms),
    },
  };

  const failures: string[] = [];
  if (result.errors > 0) failures.push(`${result.errors} transport errors`);
  if (result.wrong > 0) failures.push(`${result.wrong} wrong answers`);
  if (result.late > result.sent * MAX_LATE) {
    failures.push(
      `${result.late} checks failed open after the RTI timeout (limit ${MAX_LATE * 100} %)`,
    );
  }
  if (standIn.unknown > 0) failures.push(`${standIn.unknown} RTI calls without a load token`);
  if (server.errorLines.length > 0) failures.push(`${server.errorLines.length} error log lines`);
  if (!alive) failures.push('the server died during the soak');
  if (exitCode !== 0) failures.push(`the server exited ${String(exitCode)} on SIGTERM`);
  if (steady.length < 3) failures.push('too few samples after warm-up to judge memory');
  if (heapLate > heapLimit) {
    failures.push(
      `heap after GC grew ${mib(heapEarly)} → ${mib(heapLate)} (limit ${mib(heapLimit)})`,
    );
  }
  if (rssLate > rssLimit) {
    failures.push(`RSS grew ${mib(rssEarly)} → ${mib(rssLate)} (limit ${mib(rssLimit)})`);
  }

  console.log(
    `\nmemory: RSS start ${mib(rss[0])}, min ${mib(Math.min(...rss))}, max ${mib(Math.max(...rss))}, ` +
      `end ${mib(rss[rss.length - 1])}; after warm-up, median of first third ${mib(rssEarly)} → ` +
      `last third ${mib(rssLate)} (limit ${mib(rssLimit)})\n` +
      `heap after GC: first third ${mib(heapEarly)} → last third ${mib(heapLate)} ` +
      `(limit ${mib(heapLimit)}); trend ${summary.memory.heapUsedAfterGcMiB.slopeMiBPerMillionRequests} ` +
      `MiB per million requests`,
  );
  for (const line of server.errorLines.slice(0, 5)) console.log(`server error: ${line}`);
  for (const line of result.wrongSamples.slice(0, 5)) console.log(`wrong: ${line}`);
  for (const line of result.lateSamples.slice(0, 5)) console.log(`late: ${line}`);
  if (process.env['SOAK_JSON']) {
    writeFileSync(
      process.env['SOAK_JSON'],
      `${JSON.stringify({ ...summary, failures }, null, 2)}\n`,
    );
  }
  console.log(failures.length === 0 ? '\nsoak: PASS' : `\nsoak: FAIL\n  ${failures.join('\n  ')}`);
  return failures.length === 0 ? 0 : 1;
}

/** Least-squares slope of y over x. */
function regression(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '?' : `${(bytes / MIB).toFixed(1)} MiB`;
}

function mibNumber(bytes: number | undefined): number {
  return bytes === undefined ? NaN : round(bytes / MIB);
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

main().then(
  code => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
