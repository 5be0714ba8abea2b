// @ts-check
// Phase memory: the verdict memory (issue 23). Our server as it ships (circuit breaker and
// in-flight bound at their defaults), its own RTI stand-in that knows bots from people by client
// IP (lib/population.mjs) and can refuse connections or hang on command, and a population of
// repeat visitors (bench/memory-client.mjs) at BENCH_MEMORY_RATE. In order, on one process:
// the capacity (BENCH_CAPACITY, the protection phase's, or its own saturation); RTI healthy for
// BENCH_MEMORY_LEAD_S, the last BENCH_MEMORY_WINDOW_S of it measured; RTI refusing connections
// (measured); healthy again (lead); RTI hanging (measured); healthy again (lead); 150 % of
// capacity offered with RTI healthy (measured); the cost of a check decided from memory while
// RTI refuses against a full allow (rounds). Then the memory filled with unique bots on a fresh
// process, and the same load on another with the memory off (RSS and heap: the memory's own
// share), and two replicas over one redis-server: how long after replica 1 blocks a bot
// replica 2 blocks it while its RTI refuses. BENCH_MEMORY_PARTS picks among the three.
// Its rows, verdicts and table: phases/memory-report.mjs.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetch } from 'undici';
import { visitorOf } from '../lib/population.mjs';
import { checkRequestObject, grpcFrame, loadExtAuthz } from '../realistic-request.mjs';
import { counted } from '../lib/counted.mjs';
import { observe, rssMb } from '../lib/observe.mjs';
import { log } from '../lib/processes.mjs';
import { memoryMetrics, readyz, verdictMemoryGauges } from '../lib/scrape.mjs';
import { AS_SHIPPED } from '../lib/servers.mjs';
import { median } from '../lib/stats.mjs';
import {
  MAX_IN_FLIGHT,
  SYNC_GIVE_UP_MS,
  cheapSummary,
  costSummary,
  scenarioSummary,
  syncSummary,
} from './memory-report.mjs';

/** @typedef {import('./memory-report.mjs').ScenarioKey} ScenarioKey */
/** @typedef {import('./memory-report.mjs').ScenarioRun} ScenarioRun */
/** What the RTI stand-in does. @typedef {'serve' | 'refuse' | 'hang'} StandInMode */

/** More unique bots than the memory holds, so that it is full whatever it evicted. */
const FILL_SHARE = 1.05;
/** Unique bots of the sync measure are numbered from here: never seen by the fill. */
const SYNC_FIRST_BOT = 10_000_000;

/**
 * The scenarios and the cost, on one process (BENCH_MEMORY_PARTS `scenarios`).
 * @typedef {object} ScenarioResults
 * @property {number} rate
 * @property {number} windowS
 * @property {number} leadS
 * @property {number} capacity
 * @property {string} capacityFrom
 * @property {Record<ScenarioKey, import('./memory-report.mjs').ScenarioSummary>} scenarios
 * @property {import('./memory-report.mjs').CostSummary} cost
 * @property {import('./memory-report.mjs').CheapSummary} cheap
 */
/**
 * What was measured of the parts asked for: `full` is the part `fill`, `sync` the part `sync`.
 * @typedef {Partial<ScenarioResults>
 *   & { full?: FillSummary, sync?: import('./memory-report.mjs').SyncSummary }} MemoryResults
 */

/**
 * The parts in BENCH_MEMORY_PARTS, in their order.
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {number} [protectionCapacity] the protection phase's, when it ran
 * @returns {Promise<MemoryResults>}
 */
export async function memoryPhase(bench, protectionCapacity) {
  const { knobs, servers } = bench;
  const parts = knobs.memoryParts;
  /** @type {Record<string, string>} */
  const memoryEnv = knobs.memoryMaxEntries
    ? { CHEQ_VERDICT_MEMORY_MAX_ENTRIES: String(knobs.memoryMaxEntries) }
    : {};
  log(`memory: ${[...parts].join(', ')}; starting its RTI stand-in`);
  const standIn = await bench.start(servers.standIn());
  const scenarios = parts.has('scenarios')
    ? await scenarioRuns(bench, standIn, memoryEnv, protectionCapacity)
    : {};
  const full = parts.has('fill') ? await fillMemory(bench, standIn.url, memoryEnv) : undefined;
  await standIn.stop();
  const sync = parts.has('sync') ? await replicasOverRedis(bench, memoryEnv) : undefined;
  return { ...scenarios, ...(full && { full }), ...(sync && { sync }) };
}

/**
 * The scenarios, then the cost, on one process of ours as shipped.
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {import('../lib/servers.mjs').StandIn} standIn
 * @param {Record<string, string>} memoryEnv
 * @param {number | undefined} protectionCapacity
 * @returns {Promise<ScenarioResults>}
 */
async function scenarioRuns(bench, standIn, memoryEnv, protectionCapacity) {
  const { knobs, servers } = bench;
  log('memory: our server as shipped');
  const ours = await bench.start(
    servers.ours(standIn.url, { env: { ...AS_SHIPPED, ...memoryEnv } }),
  );
  const port = Number(ours.info['grpcPort']);
  const metricsPort = Number(ours.info['metricsPort']);
  await readyz(metricsPort);
  /** @param {StandInMode} mode */
  const rti = mode => switchStandIn(standIn.controlUrl, mode);
  /**
   * The population at `rate` for `durationS`, counted (RTI calls, our decisions) and observed.
   * @param {number} rate
   * @param {number} durationS
   * @param {Partial<import('../memory-client.mjs').PopulationOptions>} [more]
   * @returns {Promise<ScenarioRun>}
   */
  const populationLoad = async (rate, durationS, more = {}) => ({
    offeredPerS: rate,
    ...(await counted(standIn.controlUrl, metricsPort, () =>
      observe(ours.pid, () =>
        bench.load.memoryClient({
          mode: 'population',
          target: `127.0.0.1:${port}`,
          rate,
          durationS,
          bots: knobs.memoryBots,
          people: knobs.memoryPeople,
          maxInFlight: MAX_IN_FLIGHT,
          ...more,
        }),
      ),
    )),
  });
  const window = knobs.memoryWindowS;
  const lead = Math.max(0, knobs.memoryLeadS - window);

  const capacity = knobs.capacity || protectionCapacity || (await saturation(bench, port));
  const capacityFrom = knobs.capacity
    ? 'BENCH_CAPACITY'
    : protectionCapacity
      ? 'the protection phase'
      : 'saturation checks/s (h2load, median of rounds)';
  const rate = knobs.memoryRate;
  log(`memory: RTI healthy, ${knobs.memoryLeadS} s at ${rate}/s (the last ${window} s measured)`);
  if (lead > 0) await populationLoad(rate, lead);
  const healthy = await populationLoad(rate, window);
  log(`memory: RTI refusing connections, ${window} s`);
  await rti('refuse');
  const refused = await populationLoad(rate, window);
  await rti('serve');
  log(`memory: RTI healthy again, ${knobs.memoryLeadS} s; then RTI hanging, ${window} s`);
  await populationLoad(rate, knobs.memoryLeadS);
  await rti('hang');
  const hung = await populationLoad(rate, window);
  await rti('serve');
  const flood = Math.round(capacity * 1.5);
  // The breaker the hang opened closes, and every bot is seen again, before the flood.
  log(
    `memory: RTI healthy again, ${knobs.memoryLeadS} s; then 150 % of capacity (${flood}/s), ${window} s`,
  );
  await populationLoad(rate, knobs.memoryLeadS);
  const overload150 = await populationLoad(flood, window);

  const cost = await costRounds(bench, rti, populationLoad, ours.pid);
  const cheap = await cheapSaturation(bench, rti, port);
  await ours.stop();
  return {
    rate,
    windowS: window,
    leadS: knobs.memoryLeadS,
    capacity,
    capacityFrom,
    scenarios: {
      healthy: scenarioSummary(healthy),
      refused: scenarioSummary(refused),
      hung: scenarioSummary(hung),
      overload150: scenarioSummary(overload150),
    },
    cost,
    cheap,
  };
}

/**
 * Tells the RTI stand-in what to do; resolves once it is done.
 * @param {string} controlUrl
 * @param {StandInMode} mode
 */
async function switchStandIn(controlUrl, mode) {
  const response = await fetch(`${controlUrl}/mode/${mode}`, { method: 'POST' });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`RTI stand-in: mode ${mode}: ${text}`);
}

/**
 * Our saturation checks/s, as the protection phase measures it: h2load closed loop (128 in
 * flight), BENCH_ROUNDS rounds of BENCH_DURATION_S, the median.
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {number} port
 */
async function saturation(bench, port) {
  const { knobs } = bench;
  /** @type {number[]} */
  const rounds = [];
  for (let round = 0; round < knobs.rounds; round++) {
    log(`memory, capacity (h2load, 128 in flight): round ${round + 1}/${knobs.rounds}`);
    const result = await bench.load.h2load(port, { warmupS: bench.warmupS(round) });
    rounds.push(result.reqPerS);
  }
  return Math.round(Number(median(rounds)));
}

/**
 * CPU per check, in BENCH_ROUNDS rounds of BENCH_DURATION_S each (1 s warm-up): people with RTI
 * healthy (a full allow check), bots with RTI healthy (RTI's block), then with RTI refusing
 * (the circuit breaker open) bots (decided from memory: what a flood of repeat bots costs once
 * RTI cannot be asked) and people (failed open: the floor, what any check costs without RTI).
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {(mode: StandInMode) => Promise<void>} rti
 * @param {(rate: number, durationS: number, more?: Partial<import('../memory-client.mjs').PopulationOptions>) => Promise<ScenarioRun>} populationLoad
 * @param {number} serverPid
 * @returns {Promise<import('./memory-report.mjs').CostSummary>}
 */
async function costRounds(bench, rti, populationLoad, serverPid) {
  const { knobs } = bench;
  /** @type {Record<'full' | 'block' | 'memory' | 'failOpen', ScenarioRun[]>} */
  const runs = { full: [], block: [], memory: [], failOpen: [] };
  for (let round = 0; round < knobs.rounds; round++) {
    log(`memory, CPU per check (allow; RTI's block; from memory; failed open): round ${round + 1}`);
    /** @param {'people' | 'bots'} only */
    const load = only =>
      populationLoad(knobs.memoryRate, knobs.durationS, { only, warmupS: 1, serverPid });
    runs.full.push(await load('people'));
    runs.block.push(await load('bots'));
    await rti('refuse');
    runs.memory.push(await load('bots'));
    runs.failOpen.push(await load('people'));
    await rti('serve');
  }
  return costSummary(knobs.memoryRate, runs);
}

/**
 * Saturation checks/s (h2load closed loop, 128 in flight) of one person (RTI healthy: a full
 * allow), then, RTI refusing, of one remembered bot (decided from memory) and of that person
 * (failed open), BENCH_ROUNDS rounds of each: what the process can answer past RTI, against what
 * its capacity is measured with. A flood of 150 % of capacity can only be answered in time if
 * these cheap checks go 1.5 times as fast as full ones.
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {(mode: StandInMode) => Promise<void>} rti
 * @param {number} port
 * @returns {Promise<import('./memory-report.mjs').CheapSummary>}
 */
async function cheapSaturation(bench, rti, port) {
  const { knobs } = bench;
  const { check } = loadExtAuthz();
  /** @param {string} name @param {number} index */
  const requestFile = (name, index) => {
    const { clientIp, userAgent } = visitorOf(index, knobs.memoryBots);
    const file = join(bench.workDir, `memory-${name}.grpc`);
    writeFileSync(
      file,
      grpcFrame(check.requestSerialize(checkRequestObject({ clientIp, userAgent }))),
    );
    return file;
  };
  const person = requestFile('person', knobs.memoryBots);
  const bot = requestFile('bot', 0);
  /** @param {string} file @param {number} round */
  const saturate = async (file, round) =>
    (await bench.load.h2load(port, { requestFile: file, warmupS: bench.warmupS(round) })).reqPerS;
  /** @type {Record<'allow' | 'memory' | 'failOpen', number[]>} */
  const rounds = { allow: [], memory: [], failOpen: [] };
  for (let round = 0; round < knobs.rounds; round++) {
    log(`memory, saturation of a full allow: round ${round + 1}/${knobs.rounds}`);
    rounds.allow.push(await saturate(person, round));
  }
  // The bot seen once while RTI answers, so that it is remembered.
  await bench.load.h2load(port, { requestFile: bot, requests: 10, clients: 1, streams: 1 });
  await rti('refuse');
  for (let round = 0; round < knobs.rounds; round++) {
    log(`memory, saturation from memory and failed open (RTI refusing): round ${round + 1}`);
    rounds.memory.push(await saturate(bot, round));
    rounds.failOpen.push(await saturate(person, round));
  }
  await rti('serve');
  return cheapSummary(rounds);
}

/**
 * @typedef {object} FillRun one fresh process of ours: the fill, then the population
 * @property {number | undefined} maxEntries our cheq_authz_verdict_memory_max_entries
 * @property {number | undefined} entries cheq_authz_verdict_memory_entries after the fill
 * @property {number} checks unique bots sent
 * @property {number} blocked of them, blocked (RTI healthy: each one learned, the memory on)
 * @property {number} checksPerS
 * @property {number | undefined} rssIdleMb our RSS once ready, the memory empty
 * @property {number | undefined} rssMaxMb our RSS, largest sampled during the fill and the load
 *   after it
 * @property {number | undefined} rssAfterMb after both
 * @property {{ heapUsedMb?: number, heapTotalMb?: number }} heapIdle V8's heap once ready
 * @property {{ heapUsedMb?: number, heapTotalMb?: number }} heapFull after the fill
 */
/**
 * The same load on two fresh processes: the memory on (filled to its cap) and off (every site's
 * verdict_memory_ttl_s 0: nothing learned); the difference is the memory's own share.
 * @typedef {{ on: FillRun, off: FillRun }} FillSummary
 */

/**
 * The memory filled, and the same load with it off, each on a fresh process of ours (the
 * scenarios' overload would weigh on the RSS).
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {string} rtiUrl a healthy RTI stand-in that knows the bots
 * @param {Record<string, string>} memoryEnv
 * @returns {Promise<FillSummary>}
 */
async function fillMemory(bench, rtiUrl, memoryEnv) {
  const on = await fillRun(bench, rtiUrl, memoryEnv, 'on');
  const off = await fillRun(bench, rtiUrl, { ...memoryEnv, CHEQ_VERDICT_MEMORY_TTL_S: '0' }, 'off');
  return { on, off };
}

/**
 * FILL_SHARE × the memory's cap of unique bots, each blocked by RTI (and so learned when the
 * memory is on), 64 in flight; then the population at BENCH_MEMORY_RATE for BENCH_DURATION_S.
 * Our RSS is sampled throughout; the entries and the heap are read after the fill.
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {string} rtiUrl
 * @param {Record<string, string>} env
 * @param {'on' | 'off'} memory for the log
 * @returns {Promise<FillRun>}
 */
async function fillRun(bench, rtiUrl, env, memory) {
  const { knobs } = bench;
  const ours = await bench.start(bench.servers.ours(rtiUrl, { env: { ...AS_SHIPPED, ...env } }));
  const target = `127.0.0.1:${ours.info['grpcPort']}`;
  const metricsPort = Number(ours.info['metricsPort']);
  await readyz(metricsPort);
  const rssIdleMb = rssMb(ours.pid);
  const heapIdle = await memoryMetrics(metricsPort);
  const { maxEntries } = await verdictMemoryGauges(metricsPort);
  const cap = maxEntries ?? (knobs.memoryMaxEntries || DEFAULT_MAX_ENTRIES);
  const checks = Math.ceil(cap * FILL_SHARE);
  log(
    `memory ${memory}: a fresh process sent ${checks} unique bots (cap ${maxEntries ?? 'not reported'})`,
  );
  const filled = await observe(ours.pid, () =>
    bench.load.memoryClient({
      mode: 'fill',
      target,
      count: checks,
      inFlight: 64,
      deadlineMs: 2000,
    }),
  );
  const { entries } = await verdictMemoryGauges(metricsPort);
  const heapFull = await memoryMetrics(metricsPort);
  log(`memory ${memory}: the population at ${knobs.memoryRate}/s for ${knobs.durationS} s`);
  const loaded = await observe(ours.pid, () =>
    bench.load.memoryClient({
      mode: 'population',
      target,
      rate: knobs.memoryRate,
      durationS: knobs.durationS,
      bots: knobs.memoryBots,
      people: knobs.memoryPeople,
      maxInFlight: MAX_IN_FLIGHT,
    }),
  );
  const rssAfterMb = rssMb(ours.pid);
  await ours.stop();
  const sampled = [filled.rssMaxMb, loaded.rssMaxMb].filter(x => x !== undefined);
  return {
    maxEntries,
    entries,
    checks,
    blocked: filled.tally.blocked,
    checksPerS: Math.round(checks / filled.elapsedS),
    rssIdleMb,
    rssMaxMb: sampled.length > 0 ? Math.max(...sampled) : undefined,
    rssAfterMb,
    heapIdle,
    heapFull,
  };
}

/** The server's default verdict_memory_max_entries (design of issue 23), when it reports none. */
const DEFAULT_MAX_ENTRIES = 50_000;

/**
 * Two replicas of ours over one redis-server, each with its own RTI stand-in; replica 2's
 * refuses connections. For each of BENCH_MEMORY_SYNC_BOTS new bots: replica 1 blocks it (its RTI
 * answers), then replica 2 is asked until it blocks it from memory.
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {Record<string, string>} memoryEnv
 * @returns {Promise<import('./memory-report.mjs').SyncSummary>}
 */
async function replicasOverRedis(bench, memoryEnv) {
  const { knobs, servers } = bench;
  const bots = knobs.memorySyncBots;
  log('memory: two replicas over one redis-server');
  /** Stopped in reverse at the end, whatever happens. @type {import('../lib/processes.mjs').Started[]} */
  const started = [];
  /** @template {import('../lib/processes.mjs').Started} S @param {Promise<S>} promise */
  const start = async promise => {
    const child = await bench.start(promise);
    started.push(child);
    return child;
  };
  try {
    // Missing redis-server, or a build without redis_url, fails here: the rest still counts.
    const redis = await start(servers.redis());
    const standIns = [await start(servers.standIn()), await start(servers.standIn())];
    const replicas = [];
    for (const standIn of standIns) {
      const env = { ...AS_SHIPPED, ...memoryEnv, CHEQ_REDIS_URL: redis.url };
      replicas.push(await start(servers.ours(standIn.url, { env })));
    }
    for (const replica of replicas) await readyz(Number(replica.info['metricsPort']));
    const [one, two] = replicas.map(r => `127.0.0.1:${r.info['grpcPort']}`);
    await switchStandIn(
      /** @type {import('../lib/servers.mjs').StandIn} */ (standIns[1]).controlUrl,
      'refuse',
    );
    const { delaysMs } = await bench.load.memoryClient({
      mode: 'sync',
      target: String(one),
      follower: String(two),
      bots,
      first: SYNC_FIRST_BOT,
      giveUpMs: SYNC_GIVE_UP_MS,
    });
    return syncSummary(delaysMs);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
    log(`memory: two replicas over Redis not measured: ${why}`);
    return { error: why, bots, delaysMs: [], delayMs: {}, missed: bots };
  } finally {
    for (const child of started.reverse()) await child.stop();
  }
}
