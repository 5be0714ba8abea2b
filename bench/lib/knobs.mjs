// @ts-check
// The one table of the bench's BENCH_* environment variables: name, default, meaning and form,
// parsed and validated here and nowhere else (`node bench/run.mjs --help` prints it). No other
// bench module reads process.env; those that start processes take a copy from `environment()`.

import {
  cpuList,
  decimal,
  envObject,
  flag,
  grpcTimeout,
  integer,
  oneOf,
  positiveInteger,
  subsetOf,
  text,
  words,
} from './knob-forms.mjs';

/** The phases of `npm run bench`, in the order they run. */
const PHASES = /** @type {const} */ ([
  'grpc',
  'grpc-v4',
  'rate',
  'hang',
  'http',
  'http-v4',
  'workers',
  'protection',
  'challenge',
  'memory',
]);
/** @typedef {(typeof PHASES)[number]} Phase */
/** The memory phase's parts, in the order they run (bench/phases/memory.mjs). */
const MEMORY_PARTS = /** @type {const} */ (['scenarios', 'fill', 'sync']);

/** The scripts that read knobs; a knob's default may differ by script (BENCH_ROUNDS). */
/**
 * @typedef {'run' | 'compare-builds' | 'compare-node-flags' | 'profile' | 'rti-stand-in'
 *   | 'reference-servers' | 'alloc-sampler'} Script
 */

/**
 * @template T
 * @typedef {object} Knob
 * @property {string} env the variable
 * @property {string} form what a valid value looks like, for --help and errors
 * @property {string} doc what it means
 * @property {T} default the value when unset
 * @property {string} [shownDefault] the default as --help prints it, when not String(default)
 * @property {Partial<Record<Script, T>>} [defaultIn] a script's own default
 * @property {boolean} [internal] set by the bench for a child process, not by hand
 * @property {(text: string) => T} parse throws a plain message when the text is not valid
 */

/** The proof of work's difficulty, in the bounds our server accepts. @param {string} text */
const powDifficulty = text => {
  const bits = integer(text);
  if (bits < 8 || bits > 24) throw new Error('must be 8 to 24');
  return bits;
};
/** A population's size: one address each in a /16. @param {string} text */
const population = text => {
  const n = positiveInteger(text);
  if (n > 65_536) throw new Error('must be at most 65536');
  return n;
};
/**
 * One knob.
 * @template T
 * @param {string} env
 * @param {T} defaultValue
 * @param {(text: string) => T} parse
 * @param {string} form
 * @param {string} doc
 * @param {Partial<Omit<Knob<T>, 'env' | 'default' | 'parse' | 'form' | 'doc'>>} [more]
 * @returns {Knob<T>}
 */
const knob = (env, defaultValue, parse, form, doc, more = {}) => ({
  env,
  default: defaultValue,
  parse,
  form,
  doc,
  ...more,
});

export const KNOBS = {
  serverCpu: knob('BENCH_SERVER_CPU', '0', cpuList, 'cores', 'core(s) of the servers under test'),
  loadCpu: knob('BENCH_LOAD_CPU', '1', cpuList, 'cores', 'core(s) of everything else'),
  rtiCpu: knob('BENCH_RTI_CPU', '', cpuList, 'cores', 'core(s) of the RTI stand-in', {
    shownDefault: 'BENCH_LOAD_CPU',
  }),
  rtiLatencyMs: knob('BENCH_RTI_LATENCY_MS', 2, decimal, 'ms', 'RTI stand-in answer delay'),
  timeoutMs: knob(
    'BENCH_TIMEOUT_MS',
    100,
    positiveInteger,
    'ms',
    "our CHEQ_TIMEOUT_MS, and the references' abort",
  ),
  rtiConnections: knob(
    'BENCH_RTI_CONNECTIONS',
    64,
    positiveInteger,
    'count',
    'undici pool size, ours and the references',
  ),
  phases: knob(
    'BENCH_PHASES',
    new Set(PHASES),
    subsetOf(PHASES),
    'comma list',
    `phases to run (${PHASES.join(', ')}), always in this order`,
    { shownDefault: 'all' },
  ),
  rounds: knob('BENCH_ROUNDS', 5, positiveInteger, 'count', 'interleaved rounds per phase', {
    defaultIn: { 'compare-builds': 16, 'compare-node-flags': 6 },
  }),
  durationS: knob('BENCH_DURATION_S', 5, positiveInteger, 's', 'each saturation measurement'),
  warmupS: knob('BENCH_WARMUP_S', 3, integer, 's', 'first warm-up of a target'),
  roundWarmupS: knob('BENCH_ROUND_WARMUP_S', 1, integer, 's', 'warm-up of the later rounds'),
  latencyDurationS: knob(
    'BENCH_LATENCY_DURATION_S',
    5,
    positiveInteger,
    's',
    'each fixed-rate measurement',
  ),
  rateFraction: knob(
    'BENCH_RATE_FRACTION',
    0.5,
    decimal,
    'ratio',
    'fixed rate as a share of our gRPC saturation',
  ),
  rate: knob(
    'BENCH_RATE',
    0,
    integer,
    'checks/s',
    'fixed rate; 0: BENCH_RATE_FRACTION of our gRPC saturation',
  ),
  h2Clients: knob('BENCH_H2_CLIENTS', 4, positiveInteger, 'count', 'h2load -c'),
  h2Streams: knob('BENCH_H2_STREAMS', 32, positiveInteger, 'count', 'h2load -m'),
  grpcTimeout: knob(
    'BENCH_GRPC_TIMEOUT',
    '200m',
    grpcTimeout,
    'gRPC timeout',
    'grpc-timeout header h2load sends (empty: none)',
  ),
  wrkConnections: knob('BENCH_WRK_CONNECTIONS', 64, positiveInteger, 'count', 'wrk -c'),
  hangRate: knob('BENCH_HANG_RPS', 100, integer, 'checks/s', 'hung checks in the hang phases'),
  capacity: knob(
    'BENCH_CAPACITY',
    0,
    integer,
    'checks/s',
    "protection and memory phases: capacity; 0: measured (the memory phase takes the protection phase's when it ran)",
  ),
  freshS: knob(
    'BENCH_FRESH_S',
    10,
    positiveInteger,
    's',
    "protection phase: the fresh process's window at a third of capacity",
  ),
  protectClients: knob(
    'BENCH_PROTECT_H2_CLIENTS',
    4,
    positiveInteger,
    'count',
    'protection phase, fixed rates: h2load -c',
  ),
  protectStreams: knob(
    'BENCH_PROTECT_H2_STREAMS',
    256,
    positiveInteger,
    'count',
    'protection phase, fixed rates: h2load -m (4 × 256: what Envoy lets be in flight)',
  ),
  challengeChecks: knob(
    'BENCH_CHALLENGE_CHECKS',
    5000,
    positiveInteger,
    'count',
    'challenge phase: measured checks per case and round (a fifth more as warm-up)',
  ),
  challengeDifficulty: knob(
    'BENCH_CHALLENGE_DIFFICULTY',
    8,
    powDifficulty,
    'bits',
    "challenge phase: the proof of work's difficulty (the bench solves every token; our server hashes once whatever it is)",
  ),
  memoryParts: knob(
    'BENCH_MEMORY_PARTS',
    new Set(MEMORY_PARTS),
    subsetOf(MEMORY_PARTS),
    'comma list',
    'memory phase: parts to run, in this order: scenarios (capacity, outages, 150 %, cost; most of its 10 minutes), fill (the memory full and the same load with it off, fresh processes: RSS and heap; about 2 minutes), sync (two replicas over Redis)',
    { shownDefault: 'all' },
  ),
  memoryRate: knob(
    'BENCH_MEMORY_RATE',
    1000,
    positiveInteger,
    'checks/s',
    "memory phase: the population's rate, bots and people together (healthy, outage, hang, cost)",
  ),
  memoryWindowS: knob(
    'BENCH_MEMORY_WINDOW_S',
    30,
    positiveInteger,
    's',
    'memory phase: each measured scenario (healthy, RTI refusing, RTI hanging, 150 %)',
  ),
  memoryLeadS: knob(
    'BENCH_MEMORY_LEAD_S',
    60,
    positiveInteger,
    's',
    'memory phase: RTI healthy before each outage and the 150 % flood (the healthy window is its end)',
  ),
  memoryBots: knob(
    'BENCH_MEMORY_BOTS',
    1000,
    population,
    'count',
    'memory phase: repeat visitors the RTI stand-in calls malicious',
  ),
  memoryPeople: knob(
    'BENCH_MEMORY_PEOPLE',
    1000,
    population,
    'count',
    'memory phase: repeat visitors the RTI stand-in calls benign',
  ),
  memorySyncBots: knob(
    'BENCH_MEMORY_SYNC_BOTS',
    20,
    positiveInteger,
    'count',
    'memory phase, two replicas over Redis: bots blocked by one and then asked of the other',
  ),
  memoryMaxEntries: knob(
    'BENCH_MEMORY_MAX_ENTRIES',
    0,
    integer,
    'count',
    "memory phase: our CHEQ_VERDICT_MEMORY_MAX_ENTRIES; 0: the server's default (the fill sends 5 % more unique bots)",
  ),
  million: knob('BENCH_MILLION', false, flag, '0 or 1', 'also send 1 million checks, RSS sampled'),
  millionChecks: knob(
    'BENCH_MILLION_CHECKS',
    1_000_000,
    positiveInteger,
    'count',
    'checks of the flat-memory run',
  ),
  millionChunks: knob(
    'BENCH_MILLION_CHUNKS',
    10,
    positiveInteger,
    'count',
    'h2load runs of the flat-memory run (RSS after each)',
  ),
  logLevel: knob(
    'BENCH_LOG_LEVEL',
    'info',
    oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    'pino level',
    "our server's LOG_LEVEL",
  ),
  nodeArgs: knob(
    'BENCH_NODE_ARGS',
    /** @type {string[]} */ ([]),
    words,
    'node flags',
    "node flags for our server after the Dockerfile's, e.g. --max-semi-space-size=8",
    { shownDefault: '' },
  ),
  abSeconds: knob('BENCH_AB_SECONDS', 3, positiveInteger, 's', 'compare-builds: each round'),
  abWarmupS: knob(
    'BENCH_AB_WARMUP_S',
    10,
    integer,
    's',
    'compare-builds: warm-up of each build before the first round',
  ),
  abTransport: knob(
    'BENCH_AB_TRANSPORT',
    'grpc',
    oneOf(['grpc', 'http']),
    'grpc or http',
    'compare-builds: h2load on the gRPC port or wrk on the NGINX endpoint',
  ),
  abEnv: knob(
    'BENCH_AB_ENV',
    /** @type {Record<string, string>} */ ({}),
    envObject,
    'JSON object',
    'compare-builds: env of both builds, e.g. {"CHEQ_API_VERSION":"v4"}',
    { shownDefault: '{}' },
  ),
  abEnvB: knob(
    'BENCH_AB_ENV_B',
    /** @type {Record<string, string>} */ ({}),
    envObject,
    'JSON object',
    'compare-builds: env of B only, e.g. {"CHEQ_VERDICT_HEADERS":"false"}',
    { shownDefault: '{}' },
  ),
  abRps: knob(
    'BENCH_AB_RPS',
    0,
    integer,
    'checks/s',
    'compare-node-flags: fixed rate; 0: saturation',
  ),
  profileKind: knob(
    'BENCH_PROFILE_KIND',
    'cpu',
    oneOf(['cpu', 'alloc', 'survivors']),
    'cpu, alloc or survivors',
    'profile: V8 CPU profile, allocations, or allocations that survived a scavenge',
  ),
  profileTransport: knob(
    'BENCH_PROFILE_TRANSPORT',
    'grpc',
    oneOf(['grpc', 'http']),
    'grpc or http',
    'profile: h2load on gRPC or wrk on the NGINX endpoint',
  ),
  profileS: knob('BENCH_PROFILE_S', 20, positiveInteger, 's', 'profile: the measured load'),
  top: knob('BENCH_TOP', 15, positiveInteger, 'count', 'profile: functions per table'),
  profileDir: knob('BENCH_PROFILE_DIR', '', text, 'path', 'profile: where profiles are written', {
    shownDefault: 'a new temporary directory',
  }),
  profileHangRate: knob(
    'BENCH_PROFILE_HANG_RPS',
    0,
    integer,
    'checks/s',
    'profile: hung checks during the gRPC load',
  ),
  profileTarget: knob(
    'BENCH_PROFILE_TARGET',
    'ours',
    oneOf([
      'ours',
      'ours-v4',
      'grpc-bare',
      'grpc-undici',
      'grpc-undici-v4',
      'http-bare',
      'http-undici',
      'http-undici-v4',
    ]),
    'ours, ours-v4 or a reference kind',
    'profile: the process profiled (ours-v4: CHEQ_API_VERSION=v4)',
  ),
  rtiVerdict: knob(
    'BENCH_RTI_VERDICT',
    'valid',
    oneOf(['valid', 'invalid']),
    'valid or invalid',
    'RTI stand-in: the verdict it answers',
  ),
  rtiHang: knob(
    'BENCH_RTI_HANG',
    'marked',
    oneOf(['marked', 'all', 'none']),
    'marked, all or none',
    'RTI stand-in: which requests it never answers (marked: User-Agent contains bench-hang)',
  ),
  allocInterval: knob(
    'BENCH_ALLOC_INTERVAL',
    16384,
    positiveInteger,
    'bytes',
    'profile alloc/survivors: sampling interval of the heap profiler',
  ),
  rtiPort: knob('BENCH_RTI_PORT', 0, integer, 'port', 'RTI stand-in: its port', {
    internal: true,
  }),
  port: knob('BENCH_PORT', 0, integer, 'port', 'reference server: its port', { internal: true }),
  rtiUrl: knob('BENCH_RTI_URL', '', text, 'URL', 'reference server: the RTI stand-in', {
    internal: true,
  }),
  allocDir: knob(
    'BENCH_ALLOC_DIR',
    '',
    text,
    'path',
    'alloc-sampler: where the heap profile goes (empty: not sampling)',
    { internal: true },
  ),
  allocKeep: knob(
    'BENCH_ALLOC_KEEP',
    'alloc',
    oneOf(['alloc', 'survivors']),
    'alloc or survivors',
    'alloc-sampler: keep every sample, or only those no scavenge collected',
    { internal: true },
  ),
};

/** @typedef {typeof KNOBS} KnobTable */
/** @typedef {{ readonly [K in keyof KnobTable]: KnobTable[K] extends Knob<infer T> ? T : never }} Knobs */

/** Bad BENCH_* values, every one of them, each naming its variable. */
export class KnobError extends Error {
  /** @param {string[]} problems */
  constructor(problems) {
    super(`${problems.join('\n')}\n(node bench/run.mjs --help lists every BENCH_* variable)`);
    this.name = 'KnobError';
    this.problems = problems;
  }
}

/**
 * Every knob from `env` (process.env by default), as `script` reads it; throws a KnobError
 * naming each variable whose value is not valid and each unknown BENCH_* variable.
 * @param {Script} script
 * @param {Record<string, string | undefined>} [env]
 * @returns {Knobs}
 */
export function readKnobs(script, env = process.env) {
  /** @type {Record<string, unknown>} */
  const values = {};
  const problems = [];
  const known = new Set(Object.values(KNOBS).map(k => k.env));
  for (const name of Object.keys(env)) {
    if (name.startsWith('BENCH_') && !known.has(name)) problems.push(`${name}: unknown variable`);
  }
  for (const [key, k] of Object.entries(KNOBS)) {
    const given = env[k.env];
    /** @type {Knob<unknown>} */
    const entry = k;
    if (given === undefined) {
      values[key] = entry.defaultIn?.[script] ?? entry.default;
      continue;
    }
    try {
      values[key] = entry.parse(given);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      problems.push(`${k.env}=${JSON.stringify(given)}: ${why} (expected ${k.form})`);
    }
  }
  if (problems.length > 0) throw new KnobError(problems);
  // With more than 2 cores, the RTI stand-in may get its own; it shares the load core by default.
  if (values['rtiCpu'] === '') values['rtiCpu'] = values['loadCpu'];
  return /** @type {Knobs} */ (values);
}

/** The --help text: every knob with its default, form and meaning; internal ones apart. */
export function knobsHelp() {
  /** @param {Knob<unknown>} k */
  const shown = k => {
    if (k.shownDefault !== undefined) return k.shownDefault;
    const own = Object.entries(k.defaultIn ?? {}).map(([script, v]) => `${script}: ${String(v)}`);
    const base = typeof k.default === 'boolean' ? (k.default ? '1' : '0') : String(k.default);
    return own.length > 0 ? `${base} (${own.join(', ')})` : base;
  };
  /** @param {Knob<unknown>[]} list */
  const table = list => {
    const rows = list.map(k => [k.env, shown(k), k.form, k.doc]);
    const widths = [0, 1, 2].map(i => Math.max(...rows.map(row => row[i]?.length ?? 0)));
    return rows.map(row =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  };
  const all = Object.values(KNOBS);
  return [
    'usage: [BENCH_*=…] node bench/run.mjs [--help]   (also: npm run bench -- --help)',
    '',
    'BENCH_* variables (name, default, form, meaning); a bad value stops the bench naming it:',
    ...table(all.filter(k => !k.internal)),
    '',
    'set by the bench for its child processes (rti-stand-in, reference-servers, alloc-sampler):',
    ...table(all.filter(k => k.internal)),
  ].join('\n');
}

/** A copy of this process's environment, for the child processes the bench starts. */
export function environment() {
  return { ...process.env };
}

/**
 * readKnobs() for a script that runs at its top level: a bad value prints its message and
 * exits with 2 instead of a stack trace.
 * @param {Script} script
 * @returns {Knobs}
 */
export function readKnobsOrExit(script) {
  try {
    return readKnobs(script);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  }
}
