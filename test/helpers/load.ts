// Load driver for the CI load test (test/slow/load.test.ts) and the soak (npm run soak): the
// built bin in its own process (so its crashes and memory are its own), the RTI stand-in
// answering each request as its case says, and N workers sending checks over gRPC and HTTP.
// Every answer is checked against the outcome its case must produce. Loopback only; every
// run is bounded by a request count and a duration.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';
import { BROWSER_HEADERS, envoyCheckRequest } from './envoy-check-request';
import { VALID_VERDICT, type FakeRti, type RtiBehaviour } from './fake-rti-server';
import { cleanEnv, MAIN } from './server-process';
import { loopbackSettings } from './start-service';
import {
  createUpstreamAuthorizationClient,
  type UpstreamAuthorizationClient,
} from './upstream-protos';

// ---------------------------------------------------------------------------------------------
// Cases: what the stand-in answers, and what the server must then answer.

export const REDIRECT_URL = 'https://shop.example.com/verify';

export type Transport = 'grpc' | 'nginx';
export type Action = 'allow' | 'deny' | 'redirect';

export interface Expected {
  readonly action: Action;
  /** The decision reason (x-cheq-decision on allow; dynamic metadata on gRPC). */
  readonly reason: string;
  /** cheq_authz_fail_open_total cause, for fail-open cases. */
  readonly failOpenCause?: string;
  /** RTI answered: its requestId and cookie must come back for this very request. */
  readonly echoesVerdict: boolean;
}

export interface LoadCase {
  readonly name: string;
  readonly weight: number;
  /** Page navigation headers (redirectable) or API (fetch/XHR) headers. */
  readonly navigation: boolean;
  /** The stand-in waits until the server's RTI timeout cuts the call. */
  readonly hangs: boolean;
  readonly rti: (id: number) => RtiBehaviour;
  readonly expect: Expected;
}

function rtiVerdict(id: number, fields: Record<string, unknown>): RtiBehaviour {
  return {
    kind: 'verdict',
    body: {
      ...VALID_VERDICT,
      ...fields,
      requestId: `rti-${id}`,
      setCookie: `_cheq_rti=load-${id}; Path=/; Max-Age=3600`,
    },
  };
}

/**
 * The mix, for a server in blocking mode with CHEQ_REDIRECT_URL=REDIRECT_URL and
 * CHEQ_CHALLENGE_ACTION=deny, default code groups. Weights are percentages.
 */
export const LOAD_CASES: readonly LoadCase[] = [
  {
    name: 'valid',
    weight: 42,
    navigation: true,
    hangs: false,
    rti: id => rtiVerdict(id, { isInvalid: false, threatTypeCode: 0 }),
    expect: { action: 'allow', reason: 'valid', echoesVerdict: true },
  },
  {
    name: 'block-nav',
    weight: 12,
    navigation: true,
    hangs: false,
    rti: id => rtiVerdict(id, { isInvalid: true, threatTypeCode: 2 }),
    expect: { action: 'redirect', reason: 'threat_block', echoesVerdict: true },
  },
  {
    name: 'block-api',
    weight: 12,
    navigation: false,
    hangs: false,
    rti: id => rtiVerdict(id, { isInvalid: true, threatTypeCode: 2 }),
    expect: { action: 'deny', reason: 'threat_block', echoesVerdict: true },
  },
  {
    name: 'challenge',
    weight: 8,
    navigation: true,
    hangs: false,
    rti: id => rtiVerdict(id, { isInvalid: true, threatTypeCode: 14 }),
    expect: { action: 'deny', reason: 'threat_challenge', echoesVerdict: true },
  },
  {
    name: 'unlisted',
    weight: 4,
    navigation: true,
    hangs: false,
    rti: id => rtiVerdict(id, { isInvalid: true, threatTypeCode: 19 }),
    expect: { action: 'allow', reason: 'threat_unlisted', echoesVerdict: true },
  },
  {
    name: 'rti-503',
    weight: 8,
    navigation: true,
    hangs: false,
    rti: () => ({ kind: 'raw', status: 503, body: 'overloaded' }),
    expect: {
      action: 'allow',
      reason: 'fail_open',
      failOpenCause: 'rti_http_status',
      echoesVerdict: false,
    },
  },
  {
    name: 'rti-garbage',
    weight: 6,
    navigation: false,
    hangs: false,
    rti: () => ({ kind: 'raw', status: 200, body: '<html>not a verdict</html>' }),
    expect: {
      action: 'allow',
      reason: 'fail_open',
      failOpenCause: 'rti_bad_response',
      echoesVerdict: false,
    },
  },
  {
    name: 'rti-reset',
    weight: 4,
    navigation: true,
    hangs: false,
    rti: () => ({ kind: 'reset' }),
    expect: {
      action: 'allow',
      reason: 'fail_open',
      failOpenCause: 'rti_connect_error',
      echoesVerdict: false,
    },
  },
  {
    name: 'rti-hang',
    weight: 4,
    navigation: true,
    hangs: true,
    rti: () => ({ kind: 'hang' }),
    expect: {
      action: 'allow',
      reason: 'fail_open',
      failOpenCause: 'rti_timeout',
      echoesVerdict: false,
    },
  },
];

/** The mix with some weights changed, e.g. more hanging cases for a steadier p99 of them. */
export function withWeights(
  cases: readonly LoadCase[],
  weights: Readonly<Record<string, number>>,
): LoadCase[] {
  return cases.map(c => ({ ...c, weight: weights[c.name] ?? c.weight }));
}

/** Server settings the cases assume; the circuit breaker and in-flight bound would turn
 *  the deliberate RTI failures into fail-opens of correct denies, so both are off. */
export function loadServerEnv(rtiUrl: string, timeoutMs: number): Record<string, string> {
  return {
    ...loopbackSettings(rtiUrl),
    CHEQ_MODE: 'blocking',
    CHEQ_REDIRECT_URL: REDIRECT_URL,
    CHEQ_CHALLENGE_ACTION: 'deny',
    CHEQ_TIMEOUT_MS: String(timeoutMs),
    CHEQ_RTI_CIRCUIT_BREAKER: 'false',
    CHEQ_RTI_MAX_IN_FLIGHT: '100000',
    CHEQ_LOG_LEVEL: 'info',
  };
}

const TOKEN = /\bcase=([a-z0-9-]+) id=(\d+)\b/;

function userAgentOf(loadCase: LoadCase, id: number): string {
  return `Mozilla/5.0 (X11; Linux x86_64) LoadDriver/1 case=${loadCase.name} id=${id}`;
}

// ---------------------------------------------------------------------------------------------
// The RTI stand-in: decides from the token in the User-Agent it is posted.

export interface StandInOptions {
  /** Delay of verdict answers, e.g. to keep checks in flight during a shutdown. */
  readonly verdictDelayMs?: number;
  /** Remember every request id the stand-in saw (the shutdown test needs them). */
  readonly recordSeen?: boolean;
}

export interface StandIn {
  /** RTI calls per case name. */
  readonly calls: Map<string, number>;
  /** Calls whose User-Agent carried no load token (must stay 0). */
  unknown: number;
  /** Ids seen, when recordSeen. */
  readonly seen: Set<number>;
}

export function installStandIn(
  rti: FakeRti,
  cases: readonly LoadCase[],
  options: StandInOptions = {},
): StandIn {
  const byName = new Map(cases.map(c => [c.name, c]));
  const standIn: StandIn = { calls: new Map(), unknown: 0, seen: new Set() };
  rti.behaviour = form => {
    // FakeRti records every call; a long run must not keep them all.
    if (rti.calls.length > 1000) rti.calls.splice(0, rti.calls.length);
    const match = TOKEN.exec(form.get('UserAgent') ?? '');
    const loadCase = match && byName.get(match[1] ?? '');
    if (!match || !loadCase) {
      standIn.unknown++;
      return { kind: 'raw', status: 400, body: 'no load token' };
    }
    const id = Number(match[2]);
    standIn.calls.set(loadCase.name, (standIn.calls.get(loadCase.name) ?? 0) + 1);
    if (options.recordSeen) standIn.seen.add(id);
    const behaviour = loadCase.rti(id);
    if (behaviour.kind === 'verdict' && options.verdictDelayMs) {
      return { ...behaviour, delayMs: options.verdictDelayMs };
    }
    return behaviour;
  };
  return standIn;
}

// ---------------------------------------------------------------------------------------------
// The server under load: dist/main.js in a child process.

export interface MemorySample {
  readonly atMs: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}

export interface LoadServer {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly grpcAddress: string;
  readonly httpUrl: string;
  readonly metricsUrl: string;
  /** Exit code, or the signal name. */
  readonly exited: Promise<number | string>;
  /** Log lines at level error or fatal (must stay empty), and stderr (capped). */
  readonly errorLines: string[];
  readonly stderr: () => string;
  /** Resolves once a log line contains `text`. */
  waitForLog(text: string, timeoutMs?: number): Promise<string>;
  /** VmRSS from /proc (Linux), else undefined. */
  rssBytes(): number | undefined;
  metrics(): Promise<string>;
  /** Only with gcProbe: forces a full GC in the server, then reads process.memoryUsage(). */
  memoryAfterGc(timeoutMs?: number): Promise<MemorySample>;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | string>;
}

export const GC_PROBE = join(__dirname, 'gc-probe.js');
const MAX_KEPT_OUTPUT = 64 * 1024;

export async function startLoadServer(
  env: Record<string, string>,
  options: { gcProbe?: boolean; startTimeoutMs?: number } = {},
): Promise<LoadServer> {
  const nodeArgs = options.gcProbe ? ['--expose-gc', '--require', GC_PROBE] : [];
  const child = spawn(process.execPath, [...nodeArgs, MAIN], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errorLines: string[] = [];
  let stderr = '';
  let tail = '';
  let recent = '';
  const logWaiters = new Set<{ text: string; resolve: (line: string) => void }>();
  const gcWaiters: ((sample: MemorySample) => void)[] = [];
  const exited = new Promise<number | string>(resolve =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );

  // The server logs a line per blocked request: scan lines, keep only what matters.
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const lines = (tail + chunk).split('\n');
    tail = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('"level":"error"') || line.includes('"level":"fatal"')) {
        if (errorLines.length < 100) errorLines.push(line);
      }
      for (const waiter of logWaiters) {
        if (line.includes(waiter.text)) {
          logWaiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
    recent = (recent + chunk).slice(-MAX_KEPT_OUTPUT);
  });
  let stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const lines = (stderrTail + chunk).split('\n');
    stderrTail = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('{"gcProbe":')) {
        const probe = (JSON.parse(line) as { gcProbe: Omit<MemorySample, 'atMs'> }).gcProbe;
        gcWaiters.shift()?.({ atMs: Date.now(), ...probe });
      } else {
        stderr = (stderr + line + '\n').slice(-MAX_KEPT_OUTPUT);
      }
    }
  });

  const waitForLog = (text: string, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const waiter = {
        text,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        logWaiters.delete(waiter);
        reject(new Error(`no log line with ${text} in ${timeoutMs} ms:\n${recent}\n${stderr}`));
      }, timeoutMs);
      logWaiters.add(waiter);
      void exited.then(code => {
        if (!logWaiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`server exited (${code}) before ${text}:\n${recent}\n${stderr}`));
      });
    });

  let listening: Record<'grpcPort' | 'httpPort' | 'metricsPort', number>;
  try {
    const line = await waitForLog('"msg":"cheq-rti-authz listening"', options.startTimeoutMs);
    listening = JSON.parse(line) as typeof listening;
  } catch (err: unknown) {
    child.kill('SIGKILL');
    throw err;
  }
  const { grpcPort, httpPort, metricsPort } = listening;
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  const pid = child.pid ?? -1;
  return {
    child,
    pid,
    grpcPort,
    httpPort,
    metricsPort,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    metricsUrl,
    exited,
    errorLines,
    stderr: () => stderr,
    waitForLog,
    rssBytes: () => readRss(pid),
    async metrics() {
      const res = await fetch(`${metricsUrl}/metrics`);
      return res.text();
    },
    memoryAfterGc(timeoutMs = 5000) {
      if (!options.gcProbe) return Promise.reject(new Error('started without gcProbe'));
      return new Promise((resolve, reject) => {
        const waiter = (sample: MemorySample): void => {
          clearTimeout(timer);
          resolve(sample);
        };
        const timer = setTimeout(() => {
          gcWaiters.splice(gcWaiters.indexOf(waiter), 1);
          reject(new Error(`no gc probe answer in ${timeoutMs} ms`));
        }, timeoutMs);
        gcWaiters.push(waiter);
        child.kill('SIGUSR2');
      });
    },
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

function readRss(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Checking one answer.

/** What one answer looked like, transport-independent. */
interface Answer {
  readonly action: Action;
  readonly httpStatus: number;
  readonly reason: string | undefined;
  /** gRPC only: cheq_reason of the dynamic metadata Envoy logs. */
  readonly metadataReason?: string | undefined;
  readonly location: string | undefined;
  readonly rtiRequestId: string | undefined;
  readonly cookie: string | undefined;
}

/** What any check gets when the RTI verdict does not arrive within the timeout. */
const FAILED_OPEN: Expected = {
  action: 'allow',
  reason: 'fail_open',
  failOpenCause: 'rti_timeout',
  echoesVerdict: false,
};

/** Empty when right; otherwise what is wrong. */
export function judge(answer: Answer, expected: Expected, id: number): string[] {
  const wrong: string[] = [];
  if (answer.action !== expected.action) {
    wrong.push(`action ${answer.action} (HTTP ${answer.httpStatus}), expected ${expected.action}`);
  }
  const statusWanted = { allow: 200, deny: 403, redirect: 302 }[expected.action];
  if (answer.httpStatus !== statusWanted) wrong.push(`status ${answer.httpStatus}`);
  if (answer.reason !== undefined && answer.reason !== expected.reason) {
    wrong.push(`reason ${answer.reason}, expected ${expected.reason}`);
  }
  if (expected.action === 'allow' && answer.reason === undefined) wrong.push('no x-cheq-decision');
  if ('metadataReason' in answer && answer.metadataReason !== expected.reason) {
    wrong.push(`dynamic metadata reason ${String(answer.metadataReason)}`);
  }
  const locationWanted = expected.action === 'redirect' ? REDIRECT_URL : undefined;
  if (answer.location !== locationWanted) wrong.push(`location ${String(answer.location)}`);
  if (expected.echoesVerdict) {
    if (answer.cookie !== `_cheq_rti=load-${id}; Path=/; Max-Age=3600`) {
      wrong.push(`cookie ${String(answer.cookie)} (someone else's answer?)`);
    }
    if (expected.action === 'allow' && answer.rtiRequestId !== `rti-${id}`) {
      wrong.push(`rti request id ${String(answer.rtiRequestId)}`);
    }
  } else {
    if (answer.cookie !== undefined) wrong.push(`unexpected cookie ${answer.cookie}`);
    if (answer.rtiRequestId !== undefined) wrong.push(`unexpected rti id ${answer.rtiRequestId}`);
  }
  return wrong;
}

function fromCheckResponse(response: CheckResponse__Output): Answer {
  const code = response.status?.code ?? 0;
  const metadataReason = response.dynamic_metadata?.fields?.['cheq_reason']?.stringValue;
  if (code === 0) {
    const ok = response.ok_response;
    const header = (name: string): string | undefined =>
      ok?.headers?.find(h => h.header?.key === name)?.header?.value;
    return {
      action: 'allow',
      httpStatus: 200,
      reason: header('x-cheq-decision'),
      metadataReason,
      location: undefined,
      rtiRequestId: header('x-cheq-rti-request-id'),
      cookie: ok?.response_headers_to_add?.find(h => h.header?.key === 'set-cookie')?.header?.value,
    };
  }
  const denied = response.denied_response;
  const header = (name: string): string | undefined =>
    denied?.headers?.find(h => h.header?.key === name)?.header?.value;
  const httpStatus = denied?.status?.code ?? -1;
  return {
    action: code === 7 && httpStatus === 302 ? 'redirect' : code === 7 ? 'deny' : 'allow',
    httpStatus: code === 7 ? httpStatus : -code,
    reason: metadataReason,
    metadataReason,
    location: header('location'),
    rtiRequestId: undefined,
    cookie: header('set-cookie'),
  };
}

function fromNginx(status: number, headers: Record<string, string | string[] | undefined>): Answer {
  const one = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(' | ') : value;
  };
  const action: Action = status === 200 ? 'allow' : status === 401 ? 'redirect' : 'deny';
  return {
    action,
    // NGINX turns the 401 + Location into the 302 the browser sees.
    httpStatus: status === 401 ? 302 : status,
    reason: one('x-cheq-decision'),
    location: one('location'),
    rtiRequestId: one('x-cheq-rti-request-id'),
    cookie: one('set-cookie'),
  };
}

// ---------------------------------------------------------------------------------------------
// The driver.

export interface LoadTarget {
  readonly grpcAddress: string;
  readonly httpUrl: string;
}

export interface LoadOptions {
  readonly cases?: readonly LoadCase[];
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Stop after this many requests... */
  readonly maxRequests: number;
  /** ...or after this long, whichever comes first. */
  readonly durationMs: number;
  /** Requests started per second, at most; unset: as fast as answers come. */
  readonly ratePerSecond?: number;
  /** Share of requests sent over gRPC; the rest go to the NGINX endpoint. */
  readonly grpcShare?: number;
  /** gRPC channels (separate HTTP/2 connections) to spread the load. */
  readonly grpcChannels?: number;
  /** Keep-alive HTTP/1.1 connections (default: concurrency). */
  readonly httpConnections?: number;
  /** Deadline of each check as the proxy would set it. */
  readonly requestTimeoutMs?: number;
  /** Seed of the case and transport choice, for a reproducible mix. */
  readonly seed?: number;
  /** Pause of a worker after a transport error (a server going away refuses at once). */
  readonly errorBackoffMs?: number;
  /**
   * The server's RTI timeout (CHEQ_TIMEOUT_MS). With it, a check whose verdict should have
   * come from RTI but was failed open after the full timeout counts as `late`, not `wrong`:
   * the server kept its contract, RTI (the stand-in, starved on a busy box) was slow.
   */
  readonly rtiTimeoutMs?: number;
  /** Called after every request (the soak samples by it). */
  readonly onResult?: (result: RequestResult) => void;
}

/**
 * Node timers count whole milliseconds from the event loop's cached clock, so a timer armed
 * late in a busy loop turn fires up to a few ms "early" (measured: 499.9 ms for 500).
 */
export const TIMER_EARLY_MS = 10;

/**
 * right: the answer its case must get. late: failed open after the RTI timeout instead of
 * the stand-in's verdict (see rtiTimeoutMs). wrong: anything else. error: no answer.
 */
export type Outcome = 'right' | 'late' | 'wrong' | 'error';

export interface RequestResult {
  readonly id: number;
  readonly transport: Transport;
  readonly caseName: string;
  readonly startedAt: number;
  readonly latencyMs: number;
  readonly outcome: Outcome;
  /** Expected action when right (what the server's metrics must count). */
  readonly expected: Expected;
  readonly detail?: string;
}

export interface InFlight {
  readonly id: number;
  readonly transport: Transport;
  readonly caseName: string;
  readonly startedAt: number;
}

export interface CaseStats {
  readonly count: number;
  readonly right: number;
  readonly late: number;
  readonly wrong: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly minMs: number;
}

export interface LoadResult {
  readonly sent: number;
  readonly right: number;
  readonly late: number;
  readonly wrong: number;
  readonly errors: number;
  /**
   * Right fail-opens of RTI failure cases (503, garbage, reset) answered after the RTI
   * timeout: their cause may have been counted as rti_timeout instead of their own.
   */
  readonly slowFailOpens: number;
  readonly elapsedMs: number;
  readonly throughputPerSecond: number;
  /** Stats by case name, over both transports, of answered requests. */
  readonly byCase: Record<string, CaseStats>;
  /** Stats by transport. */
  readonly byTransport: Record<string, CaseStats>;
  /** Right answers per transport / action / reason: what the server's metrics must show. */
  readonly decisions: Map<string, number>;
  /** Right fail-open answers per transport / cause (cheq_authz_fail_open_total). */
  readonly failOpens: Map<string, number>;
  /** Error kinds (e.g. grpc:UNAVAILABLE, http:ECONNREFUSED) and counts. */
  readonly errorKinds: Record<string, number>;
  /** A few wrong and late answers, for the failure message. */
  readonly wrongSamples: string[];
  readonly lateSamples: string[];
  readonly results?: RequestResult[];
}

export function decisionKey(transport: Transport, action: Action, reason: string): string {
  return `${transport}/${action}/${reason}`;
}

/** A PRNG with a seed (mulberry32): the same mix on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const API_HEADERS: Readonly<Record<string, string>> = {
  accept: 'application/json',
  'accept-language': 'en-US,en;q=0.5',
  'sec-fetch-mode': 'cors',
  'sec-fetch-dest': 'empty',
};

/** A running load: stop it early, look at what is in flight, await its result. */
export class LoadRun {
  readonly inFlight = new Map<number, InFlight>();
  readonly done: Promise<LoadResult>;
  private stopped = false;
  private nextId = 1;
  private sentCount = 0;
  private readonly started = performance.now();
  private readonly latencies = new Map<string, number[]>();
  private readonly counts = new Map<string, Counts>();
  private readonly decisions = new Map<string, number>();
  private readonly failOpens = new Map<string, number>();
  private readonly errorKinds: Record<string, number> = {};
  private readonly wrongSamples: string[] = [];
  private readonly lateSamples: string[] = [];
  private slowFailOpens = 0;
  private readonly results: RequestResult[] | undefined;
  private readonly clients: UpstreamAuthorizationClient[];
  private readonly pool: Pool;
  private readonly pick: () => number;
  private readonly cases: readonly LoadCase[];
  private readonly cumulative: number[];

  constructor(
    target: LoadTarget,
    private readonly options: LoadOptions,
    keepResults = false,
  ) {
    this.cases = options.cases ?? LOAD_CASES;
    let sum = 0;
    this.cumulative = this.cases.map(c => (sum += c.weight));
    this.pick = random(options.seed ?? 1);
    this.results = keepResults ? [] : undefined;
    this.clients = Array.from({ length: options.grpcChannels ?? 4 }, (_, i) =>
      createUpstreamAuthorizationClient(target.grpcAddress, grpc.credentials.createInsecure(), {
        // Own connection per client, not the shared subchannel pool.
        'grpc.use_local_subchannel_pool': 1,
        'grpc.primary_user_agent': `load-channel-${i}`,
      }),
    );
    this.pool = new Pool(target.httpUrl, {
      // One per worker by default: no queueing in the client counted as server latency.
      connections: options.httpConnections ?? options.concurrency,
      pipelining: 1,
    });
    this.done = this.run();
  }

  /** Workers finish the request they are on, then stop. */
  stop(): void {
    this.stopped = true;
  }

  /** Requests sent so far. */
  get sent(): number {
    return this.sentCount;
  }

  private async run(): Promise<LoadResult> {
    const { concurrency, durationMs } = this.options;
    const until = this.started + durationMs;
    try {
      await Promise.all(Array.from({ length: concurrency }, () => this.worker(until)));
    } finally {
      for (const client of this.clients) client.close();
      await this.pool.destroy();
    }
    return this.summarise(performance.now() - this.started);
  }

  private async worker(until: number): Promise<void> {
    const { maxRequests, ratePerSecond } = this.options;
    const grpcShare = this.options.grpcShare ?? 0.5;
    while (!this.stopped && this.nextId <= maxRequests && performance.now() < until) {
      const id = this.nextId++;
      if (ratePerSecond) {
        const slot = this.started + ((id - 1) * 1000) / ratePerSecond;
        const wait = slot - performance.now();
        if (wait > 0) await sleep(wait);
        if (this.stopped || performance.now() >= until) break;
      }
      const loadCase = this.chooseCase();
      const transport: Transport = this.pick() < grpcShare ? 'grpc' : 'nginx';
      const outcome = await this.send(id, transport, loadCase);
      if (outcome === 'error' && this.options.errorBackoffMs) {
        await sleep(this.options.errorBackoffMs);
      }
    }
  }

  private chooseCase(): LoadCase {
    const total = this.cumulative[this.cumulative.length - 1] ?? 0;
    const r = this.pick() * total;
    const index = this.cumulative.findIndex(c => r < c);
    return this.cases[index < 0 ? this.cases.length - 1 : index] as LoadCase;
  }

  private async send(id: number, transport: Transport, loadCase: LoadCase): Promise<Outcome> {
    const startedAt = Date.now();
    this.sentCount++;
    this.inFlight.set(id, { id, transport, caseName: loadCase.name, startedAt });
    const t0 = performance.now();
    let outcome: Outcome;
    let detail: string | undefined;
    let latencyMs: number;
    try {
      const answer =
        transport === 'grpc'
          ? await this.sendGrpc(id, loadCase)
          : await this.sendNginx(id, loadCase);
      latencyMs = performance.now() - t0;
      const wrong = judge(answer, loadCase.expect, id);
      if (wrong.length === 0) {
        outcome = 'right';
        if (this.afterTimeout(latencyMs) && !loadCase.hangs && loadCase.expect.failOpenCause) {
          this.slowFailOpens++;
        }
      } else if (
        this.afterTimeout(latencyMs) &&
        !loadCase.expect.failOpenCause &&
        judge(answer, FAILED_OPEN, id).length === 0
      ) {
        outcome = 'late';
        detail = `failed open after ${latencyMs.toFixed(0)} ms instead of the RTI verdict`;
      } else {
        outcome = 'wrong';
        detail = wrong.join('; ');
      }
    } catch (err: unknown) {
      latencyMs = performance.now() - t0;
      outcome = 'error';
      detail = errorKind(transport, err);
    }
    this.inFlight.delete(id);
    this.record({
      id,
      transport,
      caseName: loadCase.name,
      startedAt,
      latencyMs,
      outcome,
      expected: loadCase.expect,
      ...(detail === undefined ? {} : { detail }),
    });
    return outcome;
  }

  private afterTimeout(latencyMs: number): boolean {
    const timeout = this.options.rtiTimeoutMs;
    return timeout !== undefined && latencyMs >= timeout - TIMER_EARLY_MS;
  }

  private sendGrpc(id: number, loadCase: LoadCase): Promise<Answer> {
    const request = envoyCheckRequest({
      url: `https://shop.example.com/products/${id}?color=red`,
      headers: {
        ...(loadCase.navigation ? BROWSER_HEADERS : API_HEADERS),
        'user-agent': userAgentOf(loadCase, id),
      },
      requestId: `load-${id}`,
    });
    const client = this.clients[id % this.clients.length] as UpstreamAuthorizationClient;
    const deadline = Date.now() + (this.options.requestTimeoutMs ?? 5000);
    return new Promise((resolve, reject) => {
      client.Check(request, new grpc.Metadata(), { deadline }, (error, response) => {
        if (error) reject(error);
        else resolve(fromCheckResponse(response as CheckResponse__Output));
      });
    });
  }

  private async sendNginx(id: number, loadCase: LoadCase): Promise<Answer> {
    const { statusCode, headers, body } = await this.pool.request({
      path: '/api/authz/auth-request',
      method: 'GET',
      headers: {
        'x-original-uri': `/products/${id}?color=red`,
        'x-original-method': 'GET',
        'x-original-host': 'shop.example.com',
        'x-forwarded-proto': 'https',
        'x-real-ip': '198.51.100.7',
        'x-request-id': `load-${id}`,
        ...(loadCase.navigation ? BROWSER_HEADERS : API_HEADERS),
        'user-agent': userAgentOf(loadCase, id),
      },
      headersTimeout: this.options.requestTimeoutMs ?? 5000,
      bodyTimeout: this.options.requestTimeoutMs ?? 5000,
    });
    await body.dump();
    return fromNginx(statusCode, headers);
  }

  private record(result: RequestResult): void {
    const { transport, caseName, outcome, latencyMs } = result;
    for (const key of [`case:${caseName}`, `transport:${transport}`]) {
      const counts = this.counts.get(key) ?? { right: 0, late: 0, wrong: 0, errors: 0 };
      if (outcome === 'right') counts.right++;
      else if (outcome === 'late') counts.late++;
      else if (outcome === 'wrong') counts.wrong++;
      else counts.errors++;
      this.counts.set(key, counts);
      if (outcome !== 'error') {
        const list = this.latencies.get(key) ?? [];
        list.push(latencyMs);
        this.latencies.set(key, list);
      }
    }
    if (outcome === 'right' || outcome === 'late') {
      const expected = outcome === 'right' ? result.expected : FAILED_OPEN;
      const key = decisionKey(transport, expected.action, expected.reason);
      this.decisions.set(key, (this.decisions.get(key) ?? 0) + 1);
      const cause = expected.failOpenCause;
      if (cause) {
        const causeKey = `${transport}/${cause}`;
        this.failOpens.set(causeKey, (this.failOpens.get(causeKey) ?? 0) + 1);
      }
      if (outcome === 'late' && this.lateSamples.length < 20) {
        this.lateSamples.push(`#${result.id} ${transport} ${caseName}: ${result.detail ?? ''}`);
      }
    } else if (outcome === 'wrong') {
      if (this.wrongSamples.length < 20) {
        this.wrongSamples.push(`#${result.id} ${transport} ${caseName}: ${result.detail ?? ''}`);
      }
    } else {
      const kind = result.detail ?? 'unknown';
      this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
    }
    this.results?.push(result);
    this.options.onResult?.(result);
  }

  private summarise(elapsedMs: number): LoadResult {
    const byCase: Record<string, CaseStats> = {};
    const byTransport: Record<string, CaseStats> = {};
    let right = 0;
    let late = 0;
    let wrong = 0;
    let errors = 0;
    for (const [key, counts] of this.counts) {
      const [group, name] = key.split(':') as [string, string];
      const stats = caseStats(counts, this.latencies.get(key) ?? []);
      if (group === 'case') {
        byCase[name] = stats;
        right += counts.right;
        late += counts.late;
        wrong += counts.wrong;
        errors += counts.errors;
      } else {
        byTransport[name] = stats;
      }
    }
    return {
      sent: right + late + wrong + errors,
      right,
      late,
      wrong,
      errors,
      slowFailOpens: this.slowFailOpens,
      elapsedMs,
      throughputPerSecond: ((right + late + wrong) * 1000) / elapsedMs,
      byCase,
      byTransport,
      decisions: this.decisions,
      failOpens: this.failOpens,
      errorKinds: this.errorKinds,
      wrongSamples: this.wrongSamples,
      lateSamples: this.lateSamples,
      ...(this.results ? { results: this.results } : {}),
    };
  }
}

export function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  return new LoadRun(target, options).done;
}

function errorKind(transport: Transport, err: unknown): string {
  if (transport === 'grpc' && typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as grpc.ServiceError).code;
    return `grpc:${grpc.status[code] ?? String(code)}`;
  }
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return `${transport}:${err.code}`;
  }
  return `${transport}:${err instanceof Error ? err.message : String(err)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Numbers.

/** Nearest-rank percentile of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

interface Counts {
  right: number;
  late: number;
  wrong: number;
  errors: number;
}

function caseStats(counts: Counts, latencies: readonly number[]): CaseStats {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (p: number): number =>
    sorted.length === 0
      ? NaN
      : (sorted[
          Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1
        ] as number);
  return {
    count: counts.right + counts.late + counts.wrong + counts.errors,
    ...counts,
    p50Ms: round(at(50)),
    p99Ms: round(at(99)),
    maxMs: round(sorted[sorted.length - 1] ?? NaN),
    minMs: round(sorted[0] ?? NaN),
  };
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The load result as a table, one line per case and transport. */
export function formatResult(result: LoadResult): string {
  const header = `${'case'.padEnd(14)}${'count'.padStart(8)}${'right'.padStart(8)}${'late'.padStart(6)}${'wrong'.padStart(7)}${'errors'.padStart(8)}${'min ms'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}`;
  const line = (name: string, s: CaseStats): string =>
    `${name.padEnd(14)}${String(s.count).padStart(8)}${String(s.right).padStart(8)}${String(s.late).padStart(6)}${String(s.wrong).padStart(7)}${String(s.errors).padStart(8)}${s.minMs.toFixed(1).padStart(9)}${s.p50Ms.toFixed(1).padStart(9)}${s.p99Ms.toFixed(1).padStart(9)}${s.maxMs.toFixed(1).padStart(9)}`;
  return [
    header,
    ...Object.entries(result.byCase).map(([name, s]) => line(name, s)),
    ...Object.entries(result.byTransport).map(([name, s]) => line(`[${name}]`, s)),
    `${result.sent} requests in ${(result.elapsedMs / 1000).toFixed(1)} s: ${result.throughputPerSecond.toFixed(0)} answers/s, ${result.wrong} wrong, ${result.late} late, ${result.errors} errors ${JSON.stringify(result.errorKinds)}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The server's own count.

/** cheq_authz_decisions_total per transport/action/reason, for the transports the driver uses. */
export function serverDecisions(metricsText: string): Map<string, number> {
  return sampleCounts(metricsText, 'cheq_authz_decisions_total', labels =>
    labels['transport'] === 'grpc' || labels['transport'] === 'nginx'
      ? decisionKey(labels['transport'], labels['action'] as Action, labels['reason'] ?? '')
      : undefined,
  );
}

/** cheq_authz_fail_open_total per transport/cause, for the transports the driver uses. */
export function serverFailOpens(metricsText: string): Map<string, number> {
  return sampleCounts(metricsText, 'cheq_authz_fail_open_total', labels =>
    labels['transport'] === 'grpc' || labels['transport'] === 'nginx'
      ? `${labels['transport']}/${labels['cause'] ?? ''}`
      : undefined,
  );
}

/** Non-zero samples of a counter, keyed by `key(labels)` (undefined: skipped). */
function sampleCounts(
  metricsText: string,
  name: string,
  key: (labels: Record<string, string>) => string | undefined,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('} ');
    const labels: Record<string, string> = {};
    for (const match of line.slice(name.length + 1, close).matchAll(/(\w+)="([^"]*)"/g)) {
      labels[match[1] as string] = match[2] as string;
    }
    const value = Number(line.slice(close + 2));
    const k = key(labels);
    if (k !== undefined && value !== 0) counts.set(k, (counts.get(k) ?? 0) + value);
  }
  return counts;
}
