// Shared by bench/run.mjs and bench/profile.mjs: configuration from BENCH_* variables, child
// processes pinned with taskset, the RTI stand-in, our server, and the load generators (h2load,
// wrk, the grpc-js fixed-rate client) with their output parsed.

import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { fetch } from 'undici';
import {
  AUTH_REQUEST_PATH,
  CHECK_PATH,
  authRequestHeaders,
  checkRequestObject,
  grpcFrame,
  loadExtAuthz,
} from './realistic-request.mjs';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH_DIR, '..');
export const MAIN = join(ROOT, 'dist', 'main.js');
export const RESULTS_DIR = join(BENCH_DIR, 'results');

const env = process.env;
const num = (name, fallback) => (env[name] === undefined ? fallback : Number(env[name]));
export const config = {
  serverCpu: env.BENCH_SERVER_CPU ?? '0',
  loadCpu: env.BENCH_LOAD_CPU ?? '1',
  /** With more than 2 cores, give the RTI stand-in its own (it shares the load core by default). */
  rtiCpu: env.BENCH_RTI_CPU ?? env.BENCH_LOAD_CPU ?? '1',
  rtiLatencyMs: num('BENCH_RTI_LATENCY_MS', 2),
  timeoutMs: num('BENCH_TIMEOUT_MS', 100),
  rtiConnections: num('BENCH_RTI_CONNECTIONS', 64),
  rounds: num('BENCH_ROUNDS', 5),
  durationS: num('BENCH_DURATION_S', 5),
  warmupS: num('BENCH_WARMUP_S', 3),
  roundWarmupS: num('BENCH_ROUND_WARMUP_S', 1),
  latencyDurationS: num('BENCH_LATENCY_DURATION_S', 5),
  rateFraction: num('BENCH_RATE_FRACTION', 0.5),
  /** Fixed rate in checks/s; 0: BENCH_RATE_FRACTION of our gRPC saturation. */
  rate: num('BENCH_RATE', 0),
  /**
   * Phases to run: grpc (saturation), grpc-v4 (the same on RTI v4), rate (fixed rate), hang
   * (hung RTI), http (saturation), http-v4 (the same on RTI v4), workers, protection (protected
   * share, our server as shipped).
   */
  phases: new Set(
    (env.BENCH_PHASES ?? 'grpc,grpc-v4,rate,hang,http,http-v4,workers,protection')
      .split(',')
      .map(x => x.trim()),
  ),
  h2Clients: num('BENCH_H2_CLIENTS', 4),
  h2Streams: num('BENCH_H2_STREAMS', 32),
  grpcTimeout: env.BENCH_GRPC_TIMEOUT ?? '200m',
  wrkConnections: num('BENCH_WRK_CONNECTIONS', 64),
  hangRate: num('BENCH_HANG_RPS', 100),
  /** Protection phase: checks/s taken as capacity; 0: its own saturation measurement. */
  capacity: num('BENCH_CAPACITY', 0),
  /** Protection phase: the fresh process's window at a third of capacity, seconds. */
  freshS: num('BENCH_FRESH_S', 10),
  /**
   * Protection phase, fixed rates: h2load -c/-m (4 × 256: Envoy's default cluster circuit
   * breaker lets 1,024 requests be in flight; beyond -c × -m h2load queues on its side).
   */
  protectClients: num('BENCH_PROTECT_H2_CLIENTS', 4),
  protectStreams: num('BENCH_PROTECT_H2_STREAMS', 256),
  million: env.BENCH_MILLION === '1',
  millionChecks: num('BENCH_MILLION_CHECKS', 1_000_000),
  millionChunks: num('BENCH_MILLION_CHUNKS', 10),
  ourLogLevel: env.BENCH_LOG_LEVEL ?? 'info',
  /** Node flags of the image's ENTRYPOINT (the server runs as shipped), then BENCH_NODE_ARGS. */
  ourNodeArgs: [...shippedNodeFlags(), ...(env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)],
  /**
   * The references run on the same runtime settings as the image: the ratios then compare code,
   * not V8 flags (BENCH_NODE_ARGS, an experiment on ours, is left out).
   */
  referenceNodeArgs: shippedNodeFlags(),
};

/** The flags between `node` and `dist/main.js` in the Dockerfile's ENTRYPOINT. */
function shippedNodeFlags() {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]');
  if (entrypoint[0] !== 'node' || entrypoint.at(-1) !== 'dist/main.js') {
    throw new Error(`unexpected Dockerfile ENTRYPOINT ${JSON.stringify(entrypoint)}`);
  }
  return entrypoint.slice(1, -1);
}

/** Targets of the issue; ratios compare with the reference of the same transport. */
export const TARGETS = {
  throughputRatio: 0.9,
  addedP99Ms: 1,
  hangSlackP99Ms: 5,
  hangOthersThroughputRatio: 0.9,
  rssMb: 150,
  rssGrowthRatio: 0.1,
  freshProtectedShare: 0.99,
  steadyProtectedShare: 0.999,
  overloadVerdictsRatio: 0.9,
};

export const children = new Set();
export const log = message => console.error(`[bench] ${message}`);

// ---------------------------------------------------------------------------------------------
// Processes

export function pinned(cpu, command, args) {
  return ['taskset', ['-c', cpu, command, ...args]];
}

/** Starts a process and resolves with its first JSON stdout line that `ready` accepts. */
export function startProcess(name, [command, args], { env: childEnv, ready, timeoutMs = 15_000 }) {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: childEnv ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const tail = [];
  const keep = line => {
    tail.push(line);
    if (tail.length > 50) tail.shift();
  };
  const exited = new Promise(resolve =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    const fail = why => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${name}: ${why}\n${tail.join('\n')}`));
    };
    let buffered = '';
    let isReady = false;
    child.stdout.on('data', chunk => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        keep(line);
        if (isReady || !line.startsWith('{')) continue;
        const parsed = JSON.parse(line);
        if (ready(parsed)) {
          isReady = true;
          clearTimeout(timer);
          resolve({ name, child, pid: child.pid, info: parsed, tail, exited, stop: () => stop() });
        }
      }
    });
    child.stderr.on('data', chunk => keep(String(chunk).trimEnd()));
    let stopping = false;
    exited.then(code => {
      if (!isReady) fail(`exited (${code}) before it was ready`);
      else if (!stopping)
        log(
          `${name} (pid ${child.pid}) exited by itself (${code}):\n${tail.slice(-10).join('\n')}`,
        );
    });
    const stop = async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    };
  });
}

/** Runs a load generator to completion; resolves with its stdout. */
export function runTool([command, args], timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => (stdout += chunk));
    child.stderr.on('data', chunk => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', code => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} exited ${code}:\n${stdout}\n${stderr}`));
    });
  });
}

export function serverEnv(extra) {
  const clean = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      /^(CHEQ_|GRPC_|HTTP_|METRICS_|SHUTDOWN_|WORKERS$|HOST$|CONFIG_FILE$|LOG_LEVEL$|NODE_OPTIONS$|BENCH_)/.test(
        key,
      )
    ) {
      continue;
    }
    clean[key] = value;
  }
  // An `extra` key set to undefined leaves that setting to the server's own default.
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete clean[key];
    else clean[key] = value;
  }
  return clean;
}

// ---------------------------------------------------------------------------------------------
// Observing a server process: RSS, CPU, and the two cores

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

export function rssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Busy and total jiffies per CPU from /proc/stat. */
export function coreTimes() {
  const times = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (!match) continue;
    const values = match[2].trim().split(/\s+/).map(Number);
    const idle = values[3] + values[4];
    const total = values.reduce((a, b) => a + b, 0);
    times[match[1]] = { busy: total - idle, total };
  }
  return times;
}

/** Samples RSS of `pid` every 250 ms while `work` runs; returns its result with the samples. */
export async function observe(pid, work) {
  const samples = [];
  const cpuBefore = pid ? cpuSeconds(pid) : 0;
  const coresBefore = coreTimes();
  const started = Date.now();
  const timer = pid && setInterval(() => samples.push(rssMb(pid)), 250);
  try {
    const result = await work();
    const wallS = (Date.now() - started) / 1000;
    const coresAfter = coreTimes();
    const coreBusyPct = {};
    for (const [cpu, after] of Object.entries(coresAfter)) {
      const before = coresBefore[cpu];
      coreBusyPct[cpu] = pct((after.busy - before.busy) / (after.total - before.total));
    }
    const observed = {
      coreBusyPct,
      ...(pid
        ? {
            rssMaxMb: Math.max(...samples.filter(Boolean), rssMb(pid) ?? 0),
            serverCpuPct: pct((cpuSeconds(pid) - cpuBefore) / wallS),
          }
        : {}),
    };
    return { ...result, ...observed };
  } finally {
    if (timer) clearInterval(timer);
  }
}

export const pct = ratio => Math.round(ratio * 1000) / 10;

// ---------------------------------------------------------------------------------------------
// Load generators

export function percentilesOf(values) {
  if (values.length === 0) return {};
  const sorted = Float64Array.from(values).sort();
  const at = q => round3(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) };
}

export const round3 = x => Math.round(x * 1000) / 1000;

/** The median of the finite values (the lower middle one for an even count). */
export const median = values => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};

/**
 * h2load: the realistic CheckRequest as a gRPC POST, closed loop at -c × -m streams; with `rps`,
 * that many checks per second in all instead (at most -c × -m of them in flight: h2load queues
 * the arrivals beyond that on its side, without bound, and sends them as streams free up).
 */
export async function h2load(
  work,
  port,
  {
    durationS = config.durationS,
    warmupS = config.warmupS,
    requests,
    rps,
    clients = config.h2Clients,
    streams = config.h2Streams,
    cpu = config.loadCpu,
  } = {},
) {
  const logFile = join(work, `h2load-${port}-${Date.now()}.log`);
  const args = [
    '-c',
    String(clients),
    '-m',
    String(streams),
    '-t',
    '1',
    '-d',
    join(work, 'check-request.grpc'),
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    ...(config.grpcTimeout ? ['-H', `grpc-timeout: ${config.grpcTimeout}`] : []),
    // A fixed total rate, spread over the clients (h2load's --rps is per client).
    ...(rps ? [`--rps=${rps / clients}`] : []),
    ...(requests
      ? ['-n', String(requests)]
      : [
          '-D',
          String(durationS),
          ...(warmupS > 0 ? [`--warm-up-time=${warmupS}`] : []),
          `--log-file=${logFile}`,
        ]),
    `http://127.0.0.1:${port}${CHECK_PATH}`,
  ];
  const timeoutMs = (requests ? 600 : durationS + warmupS + 30) * 1000;
  const out = await runTool(pinned(cpu, 'h2load', args), timeoutMs);
  const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(out);
  const reqPerS = Number(finished?.[2]);
  const counts =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      out,
    );
  const result = {
    tool: 'h2load',
    reqPerS,
    elapsedS: Number(finished?.[1]),
    // Sent; those not done when the time was up were dropped (reset) unanswered.
    started: Number(counts?.[2]),
    done: Number(counts?.[3]),
    failed: Number(counts?.[5]) + Number(counts?.[6]) + Number(counts?.[7]),
  };
  if (!requests && existsSync(logFile)) {
    const latencies = [];
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      const micros = Number(line.split('\t')[2]);
      if (Number.isFinite(micros) && line) latencies.push(micros / 1000);
    }
    rmSync(logFile);
    result.latencyMs = percentilesOf(latencies);
  }
  if (!Number.isFinite(reqPerS)) throw new Error(`cannot read h2load output:\n${out}`);
  return result;
}

export function wrkUnitMs(text) {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) return undefined;
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2]];
  return round3(Number(match[1]) * scale);
}

/** wrk: the NGINX auth_request subrequest, closed loop on BENCH_WRK_CONNECTIONS connections. */
export async function wrk(
  work,
  port,
  { durationS = config.durationS, warmupS = config.warmupS } = {},
) {
  const url = `http://127.0.0.1:${port}${AUTH_REQUEST_PATH}`;
  const script = join(work, 'auth-request.lua');
  const run = seconds =>
    runTool(
      pinned(config.loadCpu, 'wrk', [
        '-t1',
        `-c${config.wrkConnections}`,
        `-d${seconds}s`,
        '--latency',
        '-s',
        script,
        url,
      ]),
      (seconds + 30) * 1000,
    );
  if (warmupS > 0) await run(warmupS);
  const out = await run(durationS);
  const reqPerS = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  if (!Number.isFinite(reqPerS)) throw new Error(`cannot read wrk output:\n${out}`);
  const latency = q => wrkUnitMs(new RegExp(`^\\s+${q}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const done = Number(/(\d+) requests in/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  return {
    tool: 'wrk',
    reqPerS,
    done,
    failed: non2xx,
    ...(socketErrors ? { socketErrors } : {}),
    latencyMs: { p50: latency(50), p90: latency(90), p99: latency(99) },
  };
}

/** The grpc-js client at a fixed rate (open loop), checking every answer. */
export async function rateClient(port, options) {
  const args = [
    join(BENCH_DIR, 'grpc-rate-client.mjs'),
    JSON.stringify({ target: `127.0.0.1:${port}`, warmupS: 2, ...options }),
  ];
  const out = await runTool(
    pinned(config.loadCpu, process.execPath, args),
    (options.durationS + 40) * 1000,
  );
  return JSON.parse(out.trim().split('\n').pop());
}

// ---------------------------------------------------------------------------------------------
// RTI stand-in and our server's own counters

export async function standInStats(rtiUrl) {
  const response = await fetch(`${rtiUrl}/stats`);
  return response.json();
}

/** cheq_authz_decisions_total summed by reason, and fail-opens by cause (fail_open:CAUSE). */
export async function decisionsByReason(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const byReason = {};
  for (const match of text.matchAll(/^cheq_authz_decisions_total\{([^}]*)\} (\S+)$/gm)) {
    const reason = /reason="([^"]*)"/.exec(match[1])?.[1] ?? '?';
    byReason[reason] = (byReason[reason] ?? 0) + Number(match[2]);
  }
  for (const match of text.matchAll(/^cheq_authz_fail_open_total\{([^}]*)\} (\S+)$/gm)) {
    const key = `fail_open:${/cause="([^"]*)"/.exec(match[1])?.[1] ?? '?'}`;
    byReason[key] = (byReason[key] ?? 0) + Number(match[2]);
  }
  return byReason;
}

/** Decision reasons from a real RTI verdict; `excluded` and `preflight` are not screened. */
export const PROTECTED_REASONS = [
  'valid',
  'threat_block',
  'threat_challenge',
  'threat_unlisted',
  'monitoring',
  'not_enforced',
];

/**
 * The protected share of a window from our server's decisions delta (decisionsByReason) and,
 * when the load generator reports them, the checks it sent (`started`) and got answered
 * (`done`): checks answered from an RTI verdict over all checks screened, protected or not.
 * Unprotected: every fail-open, whatever the cause, and the checks the client got an answer to
 * that our server never decided (`undecided`: grpc-js answers DEADLINE_EXCEEDED by itself when
 * a call's grpc-timeout passes before our handler runs; a proxy fails those open). Left out:
 * streams the client dropped unanswered when its time was up (started − done), which the
 * server counts as `cancelled` fail-opens though no proxy would have dropped them.
 */
export function protection(decisions = {}, { started, done } = {}) {
  const verdicts = PROTECTED_REASONS.reduce((sum, reason) => sum + (decisions[reason] ?? 0), 0);
  const failOpenByCause = {};
  for (const [key, n] of Object.entries(decisions)) {
    if (key.startsWith('fail_open:')) failOpenByCause[key.slice('fail_open:'.length)] = n;
  }
  const droppedAtEnd = Math.min(started - done || 0, failOpenByCause.cancelled ?? 0);
  if (droppedAtEnd > 0) failOpenByCause.cancelled -= droppedAtEnd;
  const decided = verdicts + (decisions.fail_open ?? 0) - droppedAtEnd;
  const undecided = Math.max(0, done - decided || 0);
  if (undecided > 0) failOpenByCause.undecided = undecided;
  for (const [cause, n] of Object.entries(failOpenByCause)) {
    if (n === 0) delete failOpenByCause[cause];
  }
  return withShare({
    verdicts,
    unprotected: decided - verdicts + undecided,
    failOpenByCause,
    droppedAtEnd,
  });
}

/** Several windows' protection pooled: counts summed, the share recomputed. */
export function pooledProtection(list) {
  const pooled = { verdicts: 0, unprotected: 0, failOpenByCause: {}, droppedAtEnd: 0 };
  for (const p of list) {
    pooled.verdicts += p.verdicts;
    pooled.unprotected += p.unprotected;
    pooled.droppedAtEnd += p.droppedAtEnd;
    for (const [cause, n] of Object.entries(p.failOpenByCause)) {
      pooled.failOpenByCause[cause] = (pooled.failOpenByCause[cause] ?? 0) + n;
    }
  }
  return withShare(pooled);
}

function withShare(p) {
  const screened = p.verdicts + p.unprotected;
  return { screened, ...p, share: screened > 0 ? p.verdicts / screened : undefined };
}

/** A share as a percentage with two decimals, rounded down (99.899 % does not show as 99.9). */
export const sharePct = share =>
  share === undefined ? undefined : Math.floor(share * 10000 + 1e-9) / 100;

/** cheq_authz_checks_in_flight summed over transports. */
export async function checksInFlight(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let sum = 0;
  for (const match of text.matchAll(/^cheq_authz_checks_in_flight(?:\{[^}]*\})? (\S+)$/gm)) {
    sum += Number(match[1]);
  }
  return sum;
}

/**
 * Waits (at most `timeoutMs`) until our server has settled: no check in flight and no new
 * decision over 50 ms. Before a window, the checks a previous load left behind are not counted
 * in it; after it, those it left behind (streams the client dropped) are.
 */
export async function settled(metricsPort, timeoutMs = 3000) {
  const until = Date.now() + timeoutMs;
  const total = async () =>
    Object.entries(await decisionsByReason(metricsPort))
      .filter(([reason]) => !reason.includes(':'))
      .reduce((sum, [, n]) => sum + n, 0);
  let previous = await total();
  while (Date.now() < until) {
    await new Promise(resolve => setTimeout(resolve, 50));
    const now = await total();
    if (now === previous && (await checksInFlight(metricsPort)) === 0) return;
    previous = now;
  }
}

/** Polls /readyz until it answers 200; resolves with the milliseconds waited. */
export async function readyz(metricsPort, timeoutMs = 60_000) {
  const started = Date.now();
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      await response.arrayBuffer();
      if (response.status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`/readyz not 200 within ${timeoutMs} ms`);
    await new Promise(resolve => setTimeout(resolve, 10));
  }
}

/** Heap and external memory as our server reports them (prom-client default metrics), MB. */
export async function memoryMetrics(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const read = name => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return match ? Math.round((Number(match[1]) / 1048576) * 10) / 10 : undefined;
  };
  return {
    heapUsedMb: read('nodejs_heap_size_used_bytes'),
    heapTotalMb: read('nodejs_heap_size_total_bytes'),
    externalMb: read('nodejs_external_memory_bytes'),
  };
}

/**
 * GC pauses (cumulative, by kind) and event-loop delay (since the previous scrape: prom-client
 * resets its histogram on every scrape) from our server's default metrics.
 */
export async function runtimeStats(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (name, labels = '') => {
    const escaped = labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const match = new RegExp(`^${name}${escaped ? `\\{${escaped}\\}` : ''} (\\S+)$`, 'm').exec(
      text,
    );
    return match ? Number(match[1]) : undefined;
  };
  const gc = {};
  for (const kind of ['minor', 'major', 'incremental', 'weakcb']) {
    const count = value('nodejs_gc_duration_seconds_count', `kind="${kind}"`);
    if (count === undefined) continue;
    const under10ms = value('nodejs_gc_duration_seconds_bucket', `le="0.01",kind="${kind}"`) ?? 0;
    gc[kind] = {
      count,
      sumMs:
        Math.round((value('nodejs_gc_duration_seconds_sum', `kind="${kind}"`) ?? 0) * 1e4) / 10,
      over10ms: count - under10ms,
    };
  }
  const ms = seconds => (seconds === undefined ? undefined : Math.round(seconds * 1e4) / 10);
  return {
    gc,
    eventLoopDelayMs: {
      p50: ms(value('nodejs_eventloop_lag_p50_seconds')),
      p99: ms(value('nodejs_eventloop_lag_p99_seconds')),
      max: ms(value('nodejs_eventloop_lag_max_seconds')),
    },
  };
}

function gcDelta(after, before) {
  const out = {};
  for (const [kind, a] of Object.entries(after)) {
    const b = before[kind] ?? { count: 0, sumMs: 0, over10ms: 0 };
    if (a.count === b.count) continue;
    out[kind] = {
      count: a.count - b.count,
      sumMs: Math.round((a.sumMs - b.sumMs) * 10) / 10,
      over10ms: a.over10ms - b.over10ms,
    };
  }
  return out;
}

export function delta(after, before) {
  const out = {};
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

/** Wraps a phase: stand-in calls made (and, for our server, decisions by reason) during it. */
export async function counted(rtiUrl, metricsPort, work) {
  // Also resets the stand-in's record of hung requests.
  if (metricsPort) await settled(metricsPort);
  const rtiBefore = await standInStats(rtiUrl);
  delete rtiBefore.heldMs;
  const decisionsBefore = metricsPort ? await decisionsByReason(metricsPort) : undefined;
  const runtimeBefore = metricsPort ? await runtimeStats(metricsPort) : undefined;
  const result = await work();
  if (metricsPort) await settled(metricsPort);
  const { heldMs, ...rtiAfter } = await standInStats(rtiUrl);
  // Hung requests as the stand-in saw them: held open until the server aborted them.
  const rti = {
    rtiCalls: delta(rtiAfter, rtiBefore),
    ...(heldMs.length > 0 ? { hungHeldMs: percentilesOf(heldMs) } : {}),
  };
  if (!metricsPort) return { ...result, ...rti };
  const runtimeAfter = await runtimeStats(metricsPort);
  const decisions = delta(await decisionsByReason(metricsPort), decisionsBefore);
  return {
    ...result,
    ...rti,
    decisions,
    protection: protection(decisions, result),
    gc: gcDelta(runtimeAfter.gc, runtimeBefore.gc),
    eventLoopDelayMs: runtimeAfter.eventLoopDelayMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Setting up: tools present, this process on the load core, the request files, the processes

/** src/ files changed after dist/ was built: the bench would measure old code. */
export function staleSources() {
  const builtMs = statSync(MAIN).mtimeMs;
  const stale = [];
  const walk = dir => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && statSync(path).mtimeMs > builtMs) {
        stale.push(path.slice(ROOT.length + 1));
      }
    }
  };
  walk(join(ROOT, 'src'));
  return stale;
}

export function preflight() {
  for (const tool of ['h2load', 'wrk', 'taskset']) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is not installed (Debian: nghttp2-client, wrk, util-linux)`);
    }
  }
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build:dist first`);
  const stale = staleSources();
  if (stale.length > 0) {
    log(`WARNING: dist/ is older than ${stale.slice(0, 3).join(', ')}: run npm run build:dist`);
  }
  // This script, and everything it starts without pinning, runs on the load core.
  execFileSync('taskset', ['-a', '-p', '-c', config.loadCpu, String(process.pid)], {
    stdio: 'ignore',
  });
}

/** A temporary directory with the h2load body (gRPC frame) and the wrk script. */
export function prepareWorkDir() {
  const work = mkdtempSync(join(tmpdir(), 'cheq-bench-'));
  const { check } = loadExtAuthz();
  const frame = grpcFrame(check.requestSerialize(checkRequestObject()));
  writeFileSync(join(work, 'check-request.grpc'), frame);
  const lua = Object.entries(authRequestHeaders())
    .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
    .join('\n');
  writeFileSync(join(work, 'auth-request.lua'), `wrk.method = "GET"\n${lua}\n`);
  return { dir: work, remove: () => rmSync(work, { recursive: true, force: true }) };
}

export async function startStandIn() {
  const standIn = await startProcess(
    'rti-stand-in',
    pinned(config.rtiCpu, process.execPath, [join(BENCH_DIR, 'rti-stand-in.mjs')]),
    {
      env: {
        ...process.env,
        BENCH_RTI_LATENCY_MS: String(config.rtiLatencyMs),
        BENCH_RTI_PORT: '0',
      },
      ready: line => line.ready === 'rti-stand-in',
    },
  );
  return { ...standIn, url: `http://127.0.0.1:${standIn.info.port}` };
}

/**
 * Our server's own defaults instead of the bench's circuit breaker off, in-flight bound of
 * 100000 and the references' RTI connections (startOurs' extraEnv): the protection phase
 * measures the server as it ships.
 */
export const AS_SHIPPED = {
  CHEQ_RTI_CIRCUIT_BREAKER: undefined,
  CHEQ_RTI_MAX_IN_FLIGHT: undefined,
  CHEQ_RTI_CONNECTIONS: undefined,
};

/** Our server (dist/main.js, or another build's `main`) on the server core; info holds its ports. */
export function startOurs(
  rtiUrl,
  nodeArgs = config.ourNodeArgs,
  extraEnv = {},
  cpu = config.serverCpu,
  main = MAIN,
) {
  return startProcess('cheq-rti-authz', pinned(cpu, process.execPath, [...nodeArgs, main]), {
    env: serverEnv({
      CHEQ_API_KEY: 'bench-api-key',
      CHEQ_TAG_HASH: 'bench-tag-hash',
      CHEQ_API_ENDPOINT: rtiUrl,
      CHEQ_MODE: 'blocking',
      CHEQ_TIMEOUT_MS: String(config.timeoutMs),
      CHEQ_RTI_CIRCUIT_BREAKER: 'false',
      CHEQ_RTI_MAX_IN_FLIGHT: '100000',
      CHEQ_RTI_CONNECTIONS: String(config.rtiConnections),
      HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      METRICS_PORT: '0',
      LOG_LEVEL: config.ourLogLevel,
      ...extraEnv,
    }),
    ready: line => line.msg === 'cheq-rti-authz listening',
    // Room for a warm-up before it listens.
    timeoutMs: 60_000,
  });
}

/** One of bench/reference-servers.mjs on the server core; info.port is its port. */
export function startReference(kind, rtiUrl, nodeArgs = config.referenceNodeArgs, extraEnv = {}) {
  const script = join(BENCH_DIR, 'reference-servers.mjs');
  return startProcess(
    kind,
    pinned(config.serverCpu, process.execPath, [...nodeArgs, script, kind]),
    {
      env: {
        ...process.env,
        ...extraEnv,
        BENCH_PORT: '0',
        BENCH_RTI_URL: rtiUrl,
        BENCH_RTI_CONNECTIONS: String(config.rtiConnections),
        BENCH_TIMEOUT_MS: String(config.timeoutMs),
      },
      ready: line => line.ready === kind,
    },
  );
}

/** Ctrl-C or an error: no child outlives the bench. */
export function killChildrenOnExit() {
  const shutdown = signal => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

export function killChildren() {
  for (const child of children) child.kill('SIGKILL');
}

/**
 * The frame of the side-by-side scripts: runs `body(work, start)` after the preflight, where
 * `start(promise)` keeps the child process the promise resolves to; afterwards stops every kept
 * child and removes the work directory. A failure is printed, what is left killed, exit code 2.
 */
export function runSideBySide(body) {
  const main = async () => {
    preflight();
    killChildrenOnExit();
    const work = prepareWorkDir();
    const started = [];
    const start = async promise => {
      const child = await promise;
      started.push(child);
      return child;
    };
    try {
      await body(work, start);
    } finally {
      await Promise.all(started.map(child => child.stop()));
      work.remove();
    }
  };
  main().catch(err => {
    console.error(err);
    killChildren();
    process.exitCode = 2;
  });
}
