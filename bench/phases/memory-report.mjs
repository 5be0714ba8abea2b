// @ts-check
// The memory phase's report (phases/memory.mjs measures): a scenario's row from its counted
// window, the cost per check, the replicas' delays, the verdicts on issue 23's targets and the
// printed table. Pure: no process, no I/O but the printing.

import { blockedPct, sumTallies } from '../lib/population.mjs';
import { fmt, observedCells, observedHeader, printTable } from '../lib/report-table.mjs';
import { median, percentilesOf, round3 } from '../lib/stats.mjs';
import { TARGETS } from '../lib/targets.mjs';

/** The scenarios measured, in their order. @typedef {'healthy' | 'refused' | 'hung' | 'overload150'} ScenarioKey */
/** @typedef {import('./memory.mjs').FillSummary} FillSummary */
/** @typedef {import('./memory.mjs').FillRun} FillRun */

/** Replica 2 is asked again and again for this long at most, per bot. */
export const SYNC_GIVE_UP_MS = 5000;

/**
 * The cost line fails when fewer of the memory rounds' checks than this were decided from
 * memory: it would have measured something else (fail-opens of a starved process among them).
 */
const REMEMBERED_SHARE = 0.95;
/** Populations' checks in flight at most, as Envoy's default cluster circuit breaker allows. */
export const MAX_IN_FLIGHT = 1024;

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
 * @property {PerRound} failOpenUs people, RTI refusing (failed open: no RTI call, no memory)
 * @property {PerRound} failOpenRatio failed open ÷ full allow, per round: the least any check
 *   costs, against what capacity is measured with
 * @property {PerRound} ratio memory ÷ full allow, per round (the issue's comparison)
 * @property {PerRound} ratioToBlock memory ÷ RTI's block, per round (what skipping RTI saves)
 * @property {number} rememberedShare of the memory rounds' checks, those our server decided from
 *   memory (remembered_block ÷ checks sent, the warm-up's included: our counters hold both)
 */
/** @typedef {{ median: number | undefined, rounds: number[] }} PerRound */
/** @typedef {Pick<ScenarioRun, 'serverCpuS' | 'tallies' | 'decisions' | 'warmupSent'>} CostRun */

/**
 * CPU per check sent (past the in-flight cap none is) of the three cases, per round and median,
 * and the ratios in each round.
 * @param {number} rate
 * @param {Record<'full' | 'block' | 'memory' | 'failOpen', CostRun[]>} runs
 * @returns {CostSummary}
 */
export function costSummary(rate, { full, block, memory, failOpen }) {
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
  const failOpenUs = failOpen.map(perCheck);
  /** @param {number[]} us @param {CostRun[]} against */
  const ratios = (us, against) =>
    perRound(us.map((x, i) => round3(x / perCheck(/** @type {CostRun} */ (against[i])))));
  const sent = memory.reduce((n, run) => n + run.tallies.bot.sent + run.warmupSent, 0);
  const remembered = memory.reduce((n, run) => n + (run.decisions?.['remembered_block'] ?? 0), 0);
  return {
    rate,
    fullUs: perRound(full.map(perCheck)),
    blockUs: perRound(block.map(perCheck)),
    memoryUs: perRound(memoryUs),
    failOpenUs: perRound(failOpenUs),
    ratio: ratios(memoryUs, full),
    ratioToBlock: ratios(memoryUs, block),
    failOpenRatio: ratios(failOpenUs, full),
    rememberedShare: sent > 0 ? round3(remembered / sent) : 0,
  };
}

/**
 * @typedef {object} CheapSummary saturation checks/s, medians and rounds
 * @property {PerRound} allowPerS one person, RTI healthy
 * @property {PerRound} memoryPerS one remembered bot, RTI refusing
 * @property {PerRound} failOpenPerS the person, RTI refusing
 * @property {number | undefined} memoryRatio memory ÷ allow (medians)
 * @property {number | undefined} failOpenRatio failed open ÷ allow (medians)
 */

/**
 * @param {Record<'allow' | 'memory' | 'failOpen', number[]>} rounds
 * @returns {CheapSummary}
 */
export function cheapSummary({ allow, memory, failOpen }) {
  /** @param {number[]} r @returns {PerRound} */
  const perRound = r => ({ median: median(r), rounds: r.map(Math.round) });
  const allowPerS = perRound(allow);
  /** @param {number[]} r */
  const ratio = r => {
    const [m, a] = [median(r), allowPerS.median];
    return m === undefined || !a ? undefined : round3(m / a);
  };
  return {
    allowPerS,
    memoryPerS: perRound(memory),
    failOpenPerS: perRound(failOpen),
    memoryRatio: ratio(memory),
    failOpenRatio: ratio(failOpen),
  };
}

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
 * The verdicts on the issue's targets, of the parts measured.
 * @param {import('./memory.mjs').MemoryResults} m
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function memoryVerdicts(m, add) {
  const { scenarios, sync, cost, cheap, full } = m;
  if (scenarios) scenarioVerdicts(m, scenarios, add);
  if (sync) syncVerdict(sync, add);
  if (cost) costVerdict(cost, add);
  if (cheap) cheapVerdict(cheap, add);
  if (full) fillVerdicts(full, add);
}

/**
 * @param {import('./memory.mjs').MemoryResults} m
 * @param {Record<ScenarioKey, ScenarioSummary>} scenarios
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
function scenarioVerdicts(m, scenarios, add) {
  const limitPct = TARGETS.memoryBotsBlockedShare * 100;
  /** @param {ScenarioKey} key @param {string} label */
  const bots = (key, label) => {
    const x = scenarios[key];
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
  bots('overload150', `150 % of capacity offered (${scenarios.overload150.offeredPerS}/s)`);
  const keys = /** @type {ScenarioKey[]} */ (Object.keys(SCENARIO_LABELS));
  const people = keys.map(key => scenarios[key].peopleBlockedPct);
  add(
    'memory: people blocked (RTI blocks none of them), every scenario',
    people.map(p => `${fmt(p)} %`).join(', '),
    `${TARGETS.memoryPeopleBlockedPct} % each`,
    people.every(p => p === TARGETS.memoryPeopleBlockedPct),
    keys
      .map(
        key =>
          `${SCENARIO_LABELS[key]}: ${scenarios[key].person.blocked} of ${scenarios[key].person.sent}`,
      )
      .join('; '),
  );
}

/**
 * @param {SyncSummary} s
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
function syncVerdict(s, add) {
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
}

/**
 * @param {CostSummary} c
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
function costVerdict(c, add) {
  add(
    `memory: CPU per check decided from memory (RTI refusing) ÷ a full allow check, at ${c.rate}/s`,
    c.ratio.median,
    'information (issue: a small fraction)',
    c.rememberedShare < REMEMBERED_SHARE ? false : undefined,
    `${c.memoryUs.median} µs ÷ ${c.fullUs.median} µs; rounds ${c.ratio.rounds.join(', ')}; ÷ RTI's block of the same bots (${c.blockUs.median} µs) ${c.ratioToBlock.median}; ${Math.round(c.rememberedShare * 1000) / 10} % of the memory rounds' checks decided from memory${c.rememberedShare < REMEMBERED_SHARE ? ' [!] the cost measured something else' : ''}`,
  );
  add(
    `memory: CPU per check failed open without RTI (RTI refusing, people) ÷ a full allow check, at ${c.rate}/s`,
    c.failOpenRatio.median,
    'information: 150 % of capacity answered in time needs ≤ 0.667 on average',
    undefined,
    `${c.failOpenUs.median} µs ÷ ${c.fullUs.median} µs; rounds ${c.failOpenRatio.rounds.join(', ')}`,
  );
}

/**
 * Whether checks answered without RTI go fast enough for a flood of 150 % of capacity.
 * @param {CheapSummary} k
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
function cheapVerdict(k, add) {
  add(
    'memory: saturation checks/s decided from memory (a remembered bot, RTI refusing) ÷ a full allow',
    k.memoryRatio,
    'information: 150 % of capacity answered in time needs ≥ 1.5',
    undefined,
    `${fmt(k.memoryPerS.median)}/s ÷ ${fmt(k.allowPerS.median)}/s; failed open (RTI refusing) ${fmt(k.failOpenPerS.median)}/s, ÷ allow ${k.failOpenRatio}; rounds ${k.memoryPerS.rounds.join('/')}, ${k.failOpenPerS.rounds.join('/')}, ${k.allowPerS.rounds.join('/')}`,
  );
}

/**
 * The RSS budget with the memory full, and the memory's own share: the same load with it off.
 * @param {FillSummary} f
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
function fillVerdicts({ on, off }, add) {
  const full =
    on.entries !== undefined && on.maxEntries !== undefined && on.entries >= on.maxEntries;
  add(
    `memory: RSS with the verdict memory full (${fmt(on.maxEntries)} entries)`,
    `${fmt(on.rssMaxMb)} MB`,
    `≤ ${TARGETS.rssMb} MB, the memory full`,
    full && Number(on.rssMaxMb) <= TARGETS.rssMb,
    `a fresh process: ${fillNote(on)}${full ? '' : ' [!] the memory is not full'}`,
  );
  const share = fillShare(on, off);
  add(
    "memory: the verdict memory's own share, full − off (the same load, fresh processes)",
    `RSS growth ${signed(share.rssGrowthMb)} MB, heap used ${signed(share.heapUsedMb)} MB`,
    'information',
    undefined,
    `RSS growth: from idle to the largest sampled, per process; per 10,000 entries ${fmt(share.rssMbPer10k)} MB (heap used read without a GC); the memory off (verdict_memory_ttl_s 0): ${fillNote(off)}`,
  );
}

/**
 * Memory full minus memory off: how much each process's RSS grew from idle (ready, the memory
 * empty) to its largest during the fill and the load, which leaves out the few MB by which two
 * fresh processes differ idle; that per 10,000 entries held (the sizing rule's figure); and V8
 * heap used after the fill (read without a GC: garbage either way).
 * @param {FillRun} on
 * @param {FillRun} off
 */
export function fillShare(on, off) {
  const rssGrowthMb = minusMb(rssGrowth(on), rssGrowth(off));
  return {
    rssGrowthMb,
    heapUsedMb: minusMb(on.heapFull.heapUsedMb, off.heapFull.heapUsedMb),
    rssMbPer10k:
      rssGrowthMb === undefined || !on.entries
        ? undefined
        : Math.round((rssGrowthMb / on.entries) * 10_000 * 100) / 100,
  };
}

/** @param {FillRun} x */
const rssGrowth = x => minusMb(x.rssMaxMb, x.rssIdleMb);

/** @param {number | undefined} a @param {number | undefined} b */
const minusMb = (a, b) =>
  a === undefined || b === undefined ? undefined : Math.round((a - b) * 10) / 10;

/** @param {number | undefined} x */
const signed = x => (x === undefined ? '–' : `${x >= 0 ? '+' : ''}${x}`);

/** @param {FillRun} f */
function fillNote(f) {
  return `RSS idle ${fmt(f.rssIdleMb)} MB, max ${fmt(f.rssMaxMb)} MB, after the population at its rate ${fmt(f.rssAfterMb)} MB; heap used idle ${fmt(f.heapIdle.heapUsedMb)} MB, after the fill ${fmt(f.heapFull.heapUsedMb)} MB (heap total ${fmt(f.heapFull.heapTotalMb)} MB); ${f.checks} unique bots sent, ${f.blocked} blocked, ${fmt(f.entries)} entries held`;
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
 * The memory tables of the parts measured, after the protection one.
 * @param {import('./memory.mjs').MemoryResults} m
 * @param {import('../lib/report-table.mjs').ReportConfig} c
 */
export function printMemory(m, c) {
  const { scenarios, sync, cost, full } = m;
  if (scenarios) printScenarios(m, scenarios, c);
  if (sync) {
    console.log(
      `\ntwo replicas over Redis: ${sync.error ? `not measured (${sync.error})` : `replica 1's block → replica 2's remembered block, ${sync.bots} bots: p50 ${fmt(sync.delayMs.p50)} ms, max ${fmt(sync.delayMs.max)} ms, ${sync.missed} never within ${SYNC_GIVE_UP_MS} ms`}`,
    );
  }
  if (cost) {
    console.log(
      `CPU per check at ${cost.rate}/s: full allow ${fmt(cost.fullUs.median)} µs, RTI's block ${fmt(cost.blockUs.median)} µs, from memory (RTI refusing) ${fmt(cost.memoryUs.median)} µs; from memory ÷ allow ${fmt(cost.ratio.median)} (rounds ${cost.ratio.rounds.join('/')}), ÷ RTI's block ${fmt(cost.ratioToBlock.median)} (rounds ${cost.ratioToBlock.rounds.join('/')})`,
    );
  }
  if (full) printFill(full, c);
}

/**
 * @param {import('./memory.mjs').MemoryResults} m
 * @param {Record<ScenarioKey, ScenarioSummary>} scenarios
 * @param {import('../lib/report-table.mjs').ReportConfig} c
 */
function printScenarios(m, scenarios, c) {
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
      const x = scenarios[key];
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
}

/**
 * The memory full and off, side by side, and the difference.
 * @param {FillSummary} f
 * @param {import('../lib/report-table.mjs').ReportConfig} c
 */
function printFill({ on, off }, c) {
  console.log(
    `\nverdict memory full (cap ${fmt(on.maxEntries)}) and off (verdict_memory_ttl_s 0), each on a fresh process: ${on.checks} unique bots (64 in flight), then the population at ${c.memoryRate}/s for ${c.durationS} s; RSS max: the largest sampled through both; growth: max − idle; heap: V8's used after the fill\n`,
  );
  const share = fillShare(on, off);
  /** @param {string} label @param {FillRun} x */
  const row = (label, x) => [
    label,
    fmt(x.entries),
    fmt(x.checksPerS),
    fmt(x.rssIdleMb),
    fmt(x.rssMaxMb),
    fmt(rssGrowth(x)),
    fmt(x.rssAfterMb),
    fmt(x.heapIdle.heapUsedMb),
    fmt(x.heapFull.heapUsedMb),
    '',
  ];
  printTable(
    [
      'memory',
      'entries',
      'fill checks/s',
      'RSS idle MB',
      'RSS max MB',
      'growth MB',
      'RSS after MB',
      'heap idle MB',
      'heap full MB',
      'notes',
    ],
    [
      row('off', off),
      row('full', on),
      [
        'full − off',
        '',
        '',
        '',
        '',
        signed(share.rssGrowthMb),
        '',
        '',
        signed(share.heapUsedMb),
        `RSS per 10,000 entries ${fmt(share.rssMbPer10k)} MB`,
      ],
    ],
  );
}
