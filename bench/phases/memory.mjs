// @ts-check
// Phase memory: the verdict memory (issue 23). Our server as it ships (circuit breaker and
// in-flight bound at their defaults), its own RTI stand-in that knows bots from people by client
// IP (lib/population.mjs) and can refuse connections or hang on command, and a population of
// repeat visitors (bench/memory-client.mjs) at BENCH_MEMORY_RATE. In order, on one process:
// the capacity (BENCH_CAPACITY, the protection phase's, or its own saturation); RTI healthy for
// BENCH_MEMORY_LEAD_S, the last BENCH_MEMORY_WINDOW_S of it measured; RTI refusing connections
// (measured); healthy again (lead); RTI hanging (measured); 150 % of capacity offered with RTI
// healthy (measured); the cost of a check decided from memory while RTI refuses against a full
// allow (rounds); the memory filled with unique bots (RSS). Then two replicas over one
// redis-server: how long after replica 1 blocks a bot replica 2 blocks it while its RTI refuses.

import { fetch } from 'undici';
import { counted } from '../lib/counted.mjs';
import { observe, rssMb } from '../lib/observe.mjs';
import { blockedPct, sumTallies } from '../lib/population.mjs';
import { log } from '../lib/processes.mjs';
import { fmt, observedCells, observedHeader, printTable } from '../lib/report-table.mjs';
import { memoryMetrics, readyz, verdictMemoryGauges } from '../lib/scrape.mjs';
import { AS_SHIPPED } from '../lib/servers.mjs';
import { median, percentilesOf, round3 } from '../lib/stats.mjs';
import { TARGETS } from '../lib/targets.mjs';

/** The scenarios measured, in their order. @typedef {'healthy' | 'refused' | 'hung' | 'overload150'} ScenarioKey */
/** What the RTI stand-in does. @typedef {'serve' | 'refuse' | 'hang'} StandInMode */

/** More unique bots than the memory holds, so that it is full whatever it evicted. */
const FILL_SHARE = 1.05;
/** Replica 2 is asked again and again for this long at most, per bot. */
const SYNC_GIVE_UP_MS = 5000;
/** Unique bots of the sync measure are numbered from here: never seen by the fill. */
const SYNC_FIRST_BOT = 10_000_000;
/**
 * The cost line fails when fewer of the memory rounds' checks than this were decided from
 * memory: it would have measured something else (fail-opens of a starved process among them).
 */
const REMEMBERED_SHARE = 0.95;
/** Populations' checks in flight at most, as Envoy's default cluster circuit breaker allows. */
const MAX_IN_FLIGHT = 1024;

/** @type {Record<ScenarioKey, string>} */
export const SCENARIO_LABELS = {
  healthy: 'RTI healthy',
  refused: 'RTI refusing connections',
  hung: 'RTI hanging (never answers)',
  overload150: '150 % of capacity offered',
};

/**
 * @typedef {import('../memory-client.mjs').PopulationLoad
 *   & import('../lib/counted.mjs').RtiCounted & Partial<import('../lib/counted.mjs').ServerCounted>
 *   & import('../lib/observe.mjs').Observed & { offeredPerS: number }} ScenarioRun
 */

/**
 * @typedef {object} MemoryResults
 * @property {number} rate
 * @property {number} windowS
 * @property {number} leadS
 * @property {number} capacity
 * @property {string} capacityFrom
 * @property {Record<ScenarioKey, ScenarioSummary>} scenarios
 * @property {CostSummary} cost
 * @property {FillSummary} full
 * @property {SyncSummary} sync
 */

/**
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {number} [protectionCapacity] the protection phase's, when it ran
 * @returns {Promise<MemoryResults>}
 */
export async function memoryPhase(bench, protectionCapacity) {
  const { knobs, servers } = bench;
  /** @type {Record<string, string>} */
  const memoryEnv = knobs.memoryMaxEntries
    ? { CHEQ_VERDICT_MEMORY_MAX_ENTRIES: String(knobs.memoryMaxEntries) }
    : {};
  log('memory: starting its RTI stand-in and our server as shipped');
  const standIn = await bench.start(servers.standIn());
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
  /** @type {Partial<Record<ScenarioKey, ScenarioRun>>} */
  const runs = {};
  log(`memory: RTI healthy, ${knobs.memoryLeadS} s at ${rate}/s (the last ${window} s measured)`);
  if (lead > 0) await populationLoad(rate, lead);
  runs.healthy = await populationLoad(rate, window);
  log(`memory: RTI refusing connections, ${window} s`);
  await rti('refuse');
  runs.refused = await populationLoad(rate, window);
  await rti('serve');
  log(`memory: RTI healthy again, ${knobs.memoryLeadS} s; then RTI hanging, ${window} s`);
  await populationLoad(rate, knobs.memoryLeadS);
  await rti('hang');
  runs.hung = await populationLoad(rate, window);
  await rti('serve');
  const flood = Math.round(capacity * 1.5);
  log(`memory: 150 % of capacity (${flood}/s), ${window} s`);
  runs.overload150 = await populationLoad(flood, window);

  const cost = await costRounds(bench, rti, populationLoad, ours.pid);
  await ours.stop();
  const full = await fillMemory(bench, standIn.url, memoryEnv);
  await standIn.stop();
  const sync = await replicasOverRedis(bench, memoryEnv);
  return {
    rate,
    windowS: window,
    leadS: knobs.memoryLeadS,
    capacity,
    capacityFrom,
    scenarios: {
      healthy: scenarioSummary(/** @type {ScenarioRun} */ (runs.healthy)),
      refused: scenarioSummary(/** @type {ScenarioRun} */ (runs.refused)),
      hung: scenarioSummary(/** @type {ScenarioRun} */ (runs.hung)),
      overload150: scenarioSummary(/** @type {ScenarioRun} */ (runs.overload150)),
    },
    cost,
    full,
    sync,
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
 * @typedef {object} ScenarioSummary
 * @property {number} offeredPerS
 * @property {number | undefined} sentPerS what the client managed to offer
 * @property {number} checksPerS checks answered with a decision (allow or block) per second
 * @property {number | undefined} botsBlockedPct
 * @property {number | undefined} peopleBlockedPct
 * @property {import('../lib/population.mjs').Tally} bot
 * @property {import('../lib/population.mjs').Tally} person
 * @property {number} rtiCalls requests the RTI stand-in received (answered or held)
 * @property {number} rtiBots of them about bots, answered
 * @property {number} rtiPeople of them about people, answered
 * @property {number} remembered our server's remembered_block decisions
 * @property {Record<string, number>} failOpenByCause
 * @property {Record<string, number>} decisions
 * @property {Record<string, string>} errorDetails the first message of each gRPC error status
 * @property {Partial<import('../lib/stats.mjs').Percentiles>} latencyMs
 * @property {Partial<import('../lib/stats.mjs').Percentiles>} scheduleLagMs
 * @property {number | undefined} rssMaxMb
 * @property {number | undefined} serverCpuPct
 * @property {Record<string, number>} coreBusyPct
 */

/**
 * One scenario's window → what the table shows.
 * @param {Pick<ScenarioRun, 'offeredPerS' | 'elapsedS' | 'tallies' | 'rtiCalls' | 'latencyMs'
 *   | 'scheduleLagMs' | 'coreBusyPct'> & Partial<ScenarioRun>} run
 * @returns {ScenarioSummary}
 */
export function scenarioSummary(run) {
  const { bot, person } = run.tallies;
  const all = sumTallies([bot, person]);
  const decisions = run.decisions ?? {};
  /** @type {Record<string, number>} */
  const failOpenByCause = {};
  for (const [key, n] of Object.entries(decisions)) {
    if (key.startsWith('fail_open:')) failOpenByCause[key.slice('fail_open:'.length)] = n;
  }
  const calls = run.rtiCalls;
  return {
    offeredPerS: run.offeredPerS,
    sentPerS: run.elapsedS > 0 ? Math.round(all.sent / run.elapsedS) : undefined,
    checksPerS: run.elapsedS > 0 ? Math.round((all.allowed + all.blocked) / run.elapsedS) : 0,
    botsBlockedPct: blockedPct(bot),
    peopleBlockedPct: blockedPct(person),
    bot,
    person,
    rtiCalls: (calls['verdicts'] ?? 0) + (calls['hung'] ?? 0),
    rtiBots: calls['bots'] ?? 0,
    rtiPeople: calls['people'] ?? 0,
    remembered: decisions['remembered_block'] ?? 0,
    failOpenByCause,
    decisions,
    errorDetails: run.errorDetails ?? {},
    latencyMs: run.latencyMs,
    scheduleLagMs: run.scheduleLagMs,
    rssMaxMb: run.rssMaxMb,
    serverCpuPct: run.serverCpuPct,
    coreBusyPct: run.coreBusyPct,
  };
}

/**
 * @typedef {object} CostSummary
 * @property {number} rate
 * @property {PerRound} fullUs CPU µs per check: people, RTI healthy (an RTI call, an allow)
 * @property {PerRound} blockUs bots, RTI healthy (an RTI call, a block: the same answer as
 *   memory's)
 * @property {PerRound} memoryUs bots, RTI refusing (decided from memory)
 * @property {PerRound} ratio memory ÷ full allow, per round (the issue's comparison)
 * @property {PerRound} ratioToBlock memory ÷ RTI's block, per round (what skipping RTI saves)
 * @property {number} rememberedShare of the memory rounds' checks, those our server decided from
 *   memory (remembered_block ÷ checks sent, the warm-up's included: our counters hold both)
 */
/** @typedef {{ median: number | undefined, rounds: number[] }} PerRound */
/** @typedef {Pick<ScenarioRun, 'serverCpuS' | 'tallies' | 'decisions' | 'warmupSent'>} CostRun */

/**
 * CPU per check, in BENCH_ROUNDS rounds of BENCH_DURATION_S each (1 s warm-up): people with RTI
 * healthy (a full allow check), bots with RTI healthy (RTI's block), then bots with RTI refusing
 * (decided from memory, the circuit breaker open: what a flood of repeat bots costs once RTI
 * cannot be asked).
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {(mode: StandInMode) => Promise<void>} rti
 * @param {(rate: number, durationS: number, more?: Partial<import('../memory-client.mjs').PopulationOptions>) => Promise<ScenarioRun>} populationLoad
 * @param {number} serverPid
 * @returns {Promise<CostSummary>}
 */
async function costRounds(bench, rti, populationLoad, serverPid) {
  const { knobs } = bench;
  /** @type {Record<'full' | 'block' | 'memory', ScenarioRun[]>} */
  const runs = { full: [], block: [], memory: [] };
  for (let round = 0; round < knobs.rounds; round++) {
    log(`memory, CPU per check (allow; RTI's block; from memory): round ${round + 1}`);
    /** @param {'people' | 'bots'} only */
    const load = only =>
      populationLoad(knobs.memoryRate, knobs.durationS, { only, warmupS: 1, serverPid });
    runs.full.push(await load('people'));
    runs.block.push(await load('bots'));
    await rti('refuse');
    runs.memory.push(await load('bots'));
    await rti('serve');
  }
  return costSummary(knobs.memoryRate, runs);
}

/**
 * CPU per check sent (past the in-flight cap none is) of the three cases, per round and median,
 * and the ratios in each round.
 * @param {number} rate
 * @param {Record<'full' | 'block' | 'memory', CostRun[]>} runs
 * @returns {CostSummary}
 */
export function costSummary(rate, { full, block, memory }) {
  /** @param {CostRun} run */
  const perCheck = run => {
    // Every call that reached the server cost it, answered in time or not; none: no figure.
    const all = sumTallies([run.tallies.bot, run.tallies.person]);
    const reached = all.sent - all.overflow;
    return reached > 0 ? Math.round((Number(run.serverCpuS) * 1e6) / reached) : NaN;
  };
  /** @param {number[]} rounds @returns {PerRound} */
  const perRound = rounds => ({ median: median(rounds), rounds });
  const memoryUs = memory.map(perCheck);
  /** @param {CostRun[]} against */
  const ratios = against =>
    perRound(memoryUs.map((us, i) => round3(us / perCheck(/** @type {CostRun} */ (against[i])))));
  const sent = memory.reduce((n, run) => n + run.tallies.bot.sent + run.warmupSent, 0);
  const remembered = memory.reduce((n, run) => n + (run.decisions?.['remembered_block'] ?? 0), 0);
  return {
    rate,
    fullUs: perRound(full.map(perCheck)),
    blockUs: perRound(block.map(perCheck)),
    memoryUs: perRound(memoryUs),
    ratio: ratios(full),
    ratioToBlock: ratios(block),
    rememberedShare: sent > 0 ? round3(remembered / sent) : 0,
  };
}

/**
 * @typedef {object} FillSummary
 * @property {number | undefined} maxEntries our cheq_authz_verdict_memory_max_entries
 * @property {number | undefined} entries cheq_authz_verdict_memory_entries after the fill
 * @property {number} checks unique bots sent
 * @property {number} blocked of them, blocked (RTI healthy: each one learned)
 * @property {number} checksPerS
 * @property {number | undefined} rssIdleMb our RSS once ready, the memory empty
 * @property {number | undefined} rssMaxMb our RSS, largest sampled during the fill and the load
 *   after it
 * @property {number | undefined} rssAfterMb after both
 * @property {{ heapUsedMb?: number, heapTotalMb?: number }} heapIdle V8's heap once ready
 * @property {{ heapUsedMb?: number, heapTotalMb?: number }} heapFull after the fill
 */

/**
 * The memory filled on a fresh process of ours (the scenarios' overload would weigh on its RSS):
 * FILL_SHARE × its cap of unique bots, each blocked by RTI and so learned, 64 in flight; then
 * the population at BENCH_MEMORY_RATE for BENCH_DURATION_S with the memory full. Our RSS is
 * sampled throughout; the entries are read after the fill.
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {string} rtiUrl a healthy RTI stand-in that knows the bots
 * @param {Record<string, string>} memoryEnv
 * @returns {Promise<FillSummary>}
 */
async function fillMemory(bench, rtiUrl, memoryEnv) {
  const { knobs } = bench;
  const ours = await bench.start(
    bench.servers.ours(rtiUrl, { env: { ...AS_SHIPPED, ...memoryEnv } }),
  );
  const target = `127.0.0.1:${ours.info['grpcPort']}`;
  const metricsPort = Number(ours.info['metricsPort']);
  await readyz(metricsPort);
  const rssIdleMb = rssMb(ours.pid);
  const heapIdle = await memoryMetrics(metricsPort);
  const { maxEntries } = await verdictMemoryGauges(metricsPort);
  const cap = maxEntries ?? (knobs.memoryMaxEntries || DEFAULT_MAX_ENTRIES);
  const checks = Math.ceil(cap * FILL_SHARE);
  log(
    `memory: a fresh process filled with ${checks} unique bots (cap ${maxEntries ?? 'not reported'})`,
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
  log(`memory: the population at ${knobs.memoryRate}/s for ${knobs.durationS} s, the memory full`);
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
const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * @typedef {object} SyncSummary
 * @property {string} [error] why it was not measured (e.g. this build has no redis_url)
 * @property {number} bots asked
 * @property {(number | null)[]} delaysMs per bot: replica 1's block → replica 2's; null: none
 *   within SYNC_GIVE_UP_MS
 * @property {Partial<import('../lib/stats.mjs').Percentiles>} delayMs of those that came
 * @property {number} missed bots replica 2 never blocked in time
 */

/**
 * Two replicas of ours over one redis-server, each with its own RTI stand-in; replica 2's
 * refuses connections. For each of BENCH_MEMORY_SYNC_BOTS new bots: replica 1 blocks it (its RTI
 * answers), then replica 2 is asked until it blocks it from memory.
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {Record<string, string>} memoryEnv
 * @returns {Promise<SyncSummary>}
 */
async function replicasOverRedis(bench, memoryEnv) {
  const { knobs, servers } = bench;
  const bots = knobs.memorySyncBots;
  log('memory: two replicas over one redis-server');
  const redis = await bench.start(servers.redis());
  const standIns = [await bench.start(servers.standIn()), await bench.start(servers.standIn())];
  try {
    const replicas = [];
    for (const standIn of standIns) {
      const env = { ...AS_SHIPPED, ...memoryEnv, CHEQ_REDIS_URL: redis.url };
      replicas.push(await bench.start(servers.ours(standIn.url, { env })));
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
    for (const replica of replicas) await replica.stop();
    return syncSummary(delaysMs);
  } catch (err) {
    // A build without redis_url refuses CHEQ_REDIS_URL: the rest of the phase still counts.
    const why = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
    log(`memory: two replicas over Redis not measured: ${why}`);
    return { error: why, bots, delaysMs: [], delayMs: {}, missed: bots };
  } finally {
    for (const standIn of standIns) await standIn.stop();
    await redis.stop();
  }
}

/**
 * Per-bot delays → their percentiles and the misses.
 * @param {(number | null)[]} delaysMs
 * @returns {SyncSummary}
 */
export function syncSummary(delaysMs) {
  const came = delaysMs.filter(/** @returns {d is number} */ d => d !== null);
  return {
    bots: delaysMs.length,
    delaysMs,
    delayMs: percentilesOf(came),
    missed: delaysMs.length - came.length,
  };
}

/**
 * The verdicts on the issue's targets.
 * @param {MemoryResults} m
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function memoryVerdicts(m, add) {
  const limitPct = TARGETS.memoryBotsBlockedShare * 100;
  /** @param {ScenarioKey} key @param {string} label */
  const bots = (key, label) => {
    const x = m.scenarios[key];
    add(
      `memory, ${label}: bot requests blocked`,
      `${fmt(x.botsBlockedPct)} %`,
      `≥ ${limitPct} %`,
      Number(x.botsBlockedPct) >= limitPct,
      `${x.remembered} remembered blocks; ${scenarioNote(x)}`,
    );
  };
  bots('refused', `RTI refusing connections for ${m.windowS} s after ${m.leadS} s healthy`);
  bots('hung', `RTI hanging for ${m.windowS} s after ${m.leadS} s healthy`);
  bots('overload150', `150 % of capacity offered (${m.scenarios.overload150.offeredPerS}/s)`);
  const keys = /** @type {ScenarioKey[]} */ (Object.keys(SCENARIO_LABELS));
  const people = keys.map(key => m.scenarios[key].peopleBlockedPct);
  add(
    'memory: people blocked (RTI blocks none of them), every scenario',
    people.map(p => `${fmt(p)} %`).join(', '),
    `${TARGETS.memoryPeopleBlockedPct} % each`,
    people.every(p => p === TARGETS.memoryPeopleBlockedPct),
    keys
      .map(
        key =>
          `${SCENARIO_LABELS[key]}: ${m.scenarios[key].person.blocked} of ${m.scenarios[key].person.sent}`,
      )
      .join('; '),
  );
  const s = m.sync;
  add(
    'memory, two replicas over Redis: replica 1 blocks a bot → replica 2 (RTI refusing) blocks it, max',
    s.error
      ? 'not measured'
      : s.missed > 0
        ? `${s.missed} of ${s.bots} never (${SYNC_GIVE_UP_MS} ms)`
        : `${s.delayMs.max} ms`,
    `≤ ${TARGETS.memorySyncMs} ms`,
    !s.error && s.missed === 0 && Number(s.delayMs.max) <= TARGETS.memorySyncMs,
    s.error ?? `${s.bots} bots; p50 ${s.delayMs.p50} ms, p90 ${s.delayMs.p90} ms`,
  );
  const c = m.cost;
  add(
    `memory: CPU per check decided from memory (RTI refusing) ÷ a full allow check, at ${c.rate}/s`,
    c.ratio.median,
    'information (issue: a small fraction)',
    c.rememberedShare < REMEMBERED_SHARE ? false : undefined,
    `${c.memoryUs.median} µs ÷ ${c.fullUs.median} µs; rounds ${c.ratio.rounds.join(', ')}; ÷ RTI's block of the same bots (${c.blockUs.median} µs) ${c.ratioToBlock.median}; ${Math.round(c.rememberedShare * 1000) / 10} % of the memory rounds' checks decided from memory${c.rememberedShare < REMEMBERED_SHARE ? ' [!] the cost measured something else' : ''}`,
  );
  const f = m.full;
  const full = f.entries !== undefined && f.maxEntries !== undefined && f.entries >= f.maxEntries;
  add(
    `memory: RSS with the verdict memory full (${fmt(f.maxEntries)} entries)`,
    `${fmt(f.rssMaxMb)} MB`,
    `≤ ${TARGETS.rssMb} MB, the memory full`,
    full && Number(f.rssMaxMb) <= TARGETS.rssMb,
    `a fresh process: RSS idle ${fmt(f.rssIdleMb)} MB, heap used idle ${fmt(f.heapIdle.heapUsedMb)} MB, full ${fmt(f.heapFull.heapUsedMb)} MB (heap total ${fmt(f.heapFull.heapTotalMb)} MB); ${f.checks} unique bots sent, ${f.blocked} blocked, ${fmt(f.entries)} entries held; RSS after the population at its rate ${fmt(f.rssAfterMb)} MB${full ? '' : ' [!] the memory is not full'}`,
  );
}

/**
 * "RTI calls 0 (bots 0, people 0); fail-open: …; errors …" for a scenario.
 * @param {ScenarioSummary} x
 */
function scenarioNote(x) {
  const causes = Object.entries(x.failOpenByCause).map(([cause, n]) => `${cause} ${n}`);
  const errors = sumTallies([x.bot, x.person]);
  const failed = Object.entries(errors.errors).map(([name, n]) => `${name} ${n}`);
  return [
    `fail-open: ${causes.join(', ') || 'none'}`,
    ...(failed.length > 0 ? [`gRPC errors ${failed.join(', ')}`] : []),
    ...(errors.overflow > 0
      ? [`${errors.overflow} over ${MAX_IN_FLIGHT} in flight (failed open)`]
      : []),
  ].join('; ');
}

/**
 * The memory table, after the protection one.
 * @param {MemoryResults} m
 * @param {import('../lib/report-table.mjs').ReportConfig} c
 */
export function printMemory(m, c) {
  console.log(
    `\nverdict memory — our server as shipped, its own RTI stand-in (bots ${c.memoryBots} malicious, people ${c.memoryPeople} benign, repeat visitors in random order); ${m.windowS} s per scenario, each outage after ${m.leadS} s healthy; capacity ${m.capacity} checks/s (${m.capacityFrom}). blocked %: requests blocked ÷ requests sent (errors and arrivals past ${MAX_IN_FLIGHT} in flight count as let in); RTI calls: requests the stand-in received (bots/people answered); remembered: our remembered_block decisions.\n`,
  );
  const keys = /** @type {ScenarioKey[]} */ (Object.keys(SCENARIO_LABELS));
  printTable(
    [
      'scenario',
      'offered/s',
      'sent/s',
      'checks/s',
      'bots blocked %',
      'people blocked %',
      'RTI calls (bots/people)',
      'remembered',
      'p99 ms',
      ...observedHeader(c),
      'notes',
    ],
    keys.map(key => {
      const x = m.scenarios[key];
      return [
        SCENARIO_LABELS[key],
        fmt(x.offeredPerS),
        fmt(x.sentPerS),
        fmt(x.checksPerS),
        fmt(x.botsBlockedPct),
        fmt(x.peopleBlockedPct),
        `${x.rtiCalls} (${x.rtiBots}/${x.rtiPeople})`,
        fmt(x.remembered),
        fmt(x.latencyMs.p99),
        ...observedCells({ ...x }, c),
        scenarioNote(x),
      ];
    }),
  );
  const s = m.sync;
  console.log(
    `\ntwo replicas over Redis: ${s.error ? `not measured (${s.error})` : `replica 1's block → replica 2's remembered block, ${s.bots} bots: p50 ${fmt(s.delayMs.p50)} ms, max ${fmt(s.delayMs.max)} ms, ${s.missed} never within ${SYNC_GIVE_UP_MS} ms`}`,
  );
  console.log(
    `CPU per check at ${m.cost.rate}/s: full allow ${fmt(m.cost.fullUs.median)} µs, RTI's block ${fmt(m.cost.blockUs.median)} µs, from memory (RTI refusing) ${fmt(m.cost.memoryUs.median)} µs; from memory ÷ allow ${fmt(m.cost.ratio.median)} (rounds ${m.cost.ratio.rounds.join('/')}), ÷ RTI's block ${fmt(m.cost.ratioToBlock.median)} (rounds ${m.cost.ratioToBlock.rounds.join('/')})`,
  );
  console.log(
    `memory full (a fresh process): ${fmt(m.full.entries)} of ${fmt(m.full.maxEntries)} entries after ${m.full.checks} unique bots (${m.full.checksPerS}/s); RSS idle ${fmt(m.full.rssIdleMb)} MB, max ${fmt(m.full.rssMaxMb)} MB (the fill, then the population), after ${fmt(m.full.rssAfterMb)} MB; V8 heap used idle ${fmt(m.full.heapIdle.heapUsedMb)} MB, full ${fmt(m.full.heapFull.heapUsedMb)} MB`,
  );
}
