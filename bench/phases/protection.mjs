// @ts-check
// Phase protection: the protected share (issue 11) of our server as it ships (circuit breaker
// and in-flight bound at their defaults) on its core, the RTI stand-in healthy. On one process:
// saturation (h2load closed loop, 128 in flight) whose median checks/s is the capacity (or
// BENCH_CAPACITY). Then per round, 150 % of capacity offered to that process (h2load --rps, up
// to 1,024 in flight), and a fresh process: its first BENCH_FRESH_S seconds at a third of
// capacity from the moment /readyz answers 200, then 30, 60 and 90 % of capacity. Every window
// is counted from our server's decision counters (scraped before and after it, without
// h2load's warm-up inside).

import { log } from '../lib/processes.mjs';
import { protectedNote, sharePct } from '../lib/protection.mjs';
import {
  fmt,
  loadBusyMark,
  observedCells,
  observedHeader,
  printTable,
  sharedMark,
} from '../lib/report-table.mjs';
import { observedOverRounds } from '../lib/rounds.mjs';
import { decidedChecks, readyz } from '../lib/scrape.mjs';
import { AS_SHIPPED } from '../lib/servers.mjs';
import { median, round3 } from '../lib/stats.mjs';
import { TARGETS } from '../lib/targets.mjs';

/** @typedef {import('../lib/rounds.mjs').Run} Run */
/** @typedef {'fresh' | 'load30' | 'load60' | 'load90' | 'overload150'} FixedLoad */

/** @param {import('../lib/context.mjs').Bench} bench */
export async function protectionPhase(bench) {
  const { knobs } = bench;
  const shipped = () => bench.start(bench.servers.ours(bench.rtiUrl, { env: AS_SHIPPED }));
  /** @param {import('../lib/context.mjs').Started} server */
  const target = server => ({
    key: 'ours',
    server,
    port: Number(server.info['grpcPort']),
    metricsPort: Number(server.info['metricsPort']),
  });
  /** @param {number} rps */
  const fixedRate = rps => ({
    rps,
    clients: knobs.protectClients,
    streams: knobs.protectStreams,
  });
  /**
   * An uncounted warm-up, then a counted window with the same load.
   * @param {ReturnType<typeof target>} t
   * @param {import('../lib/load-generators.mjs').H2loadOptions} load
   */
  const countedLoad = async (
    t,
    load,
    durationS = knobs.durationS,
    warmupS = knobs.roundWarmupS,
  ) => {
    if (warmupS > 0) await bench.load.h2load(t.port, { ...load, durationS: warmupS, warmupS: 0 });
    const result = await bench.one(t, () =>
      bench.load.h2load(t.port, { ...load, durationS, warmupS: 0 }),
    );
    return protectionWindow(result, load.rps);
  };

  log('protection: starting our server as shipped (circuit breaker on)');
  const steady = target(await shipped());
  await readyz(steady.metricsPort);
  /** @type {Run[]} */
  const saturationRounds = [];
  for (let round = 0; round < knobs.rounds; round++) {
    log(`protection, saturation (h2load, 128 in flight): round ${round + 1}/${knobs.rounds}`);
    const warmupS = round === 0 ? knobs.warmupS : knobs.roundWarmupS;
    saturationRounds.push(await countedLoad(steady, {}, knobs.durationS, warmupS));
  }
  const saturation = protectionSummary(saturationRounds);
  const capacity =
    knobs.capacity || Math.round(Number(median(saturationRounds.map(w => w['reqPerS']))));
  /** @type {Record<FixedLoad, number>} */
  const rates = {
    fresh: Math.round(capacity / 3),
    load30: Math.round(capacity * 0.3),
    load60: Math.round(capacity * 0.6),
    load90: Math.round(capacity * 0.9),
    overload150: Math.round(capacity * 1.5),
  };
  /** @type {Record<FixedLoad, Run[]>} */
  const rounds = { overload150: [], fresh: [], load30: [], load60: [], load90: [] };
  for (let round = 0; round < knobs.rounds; round++) {
    /** @param {string} what */
    const label = what => log(`protection, ${what}: round ${round + 1}/${knobs.rounds}`);
    label(`150 % of capacity offered (${rates.overload150}/s)`);
    rounds.overload150.push(await countedLoad(steady, fixedRate(rates.overload150)));
    label(`fresh process, first ${knobs.freshS} s at ${rates.fresh}/s`);
    const spawnedAt = Date.now();
    const fresh = target(await shipped());
    await readyz(fresh.metricsPort);
    const readyMs = Date.now() - spawnedAt;
    rounds.fresh.push({
      ...(await countedLoad(fresh, fixedRate(rates.fresh), knobs.freshS, 0)),
      readyAfterSpawnMs: readyMs,
    });
    for (const key of /** @type {const} */ (['load30', 'load60', 'load90'])) {
      label(`the same process at ${rates[key]}/s`);
      rounds[key].push(await countedLoad(fresh, fixedRate(rates[key])));
    }
    await fresh.server.stop();
  }
  await steady.server.stop();
  /** @param {FixedLoad} key */
  const summary = key => protectionSummary(rounds[key], rates[key]);
  return {
    freshS: knobs.freshS,
    capacity,
    capacityFrom: knobs.capacity ? 'BENCH_CAPACITY' : 'saturation checks/s (median of rounds)',
    rates,
    saturation,
    overload150: summary('overload150'),
    fresh: summary('fresh'),
    load30: summary('load30'),
    load60: summary('load60'),
    load90: summary('load90'),
  };
}

/** @typedef {Awaited<ReturnType<typeof protectionPhase>>} ProtectionResults */
/** @typedef {ReturnType<typeof protectionSummary>} ProtectionSummary */

/**
 * One counted h2load window → checks/s, verdicts/s, protected share, and counts to cross-check.
 * @param {Run} result
 * @param {number} [offeredPerS]
 * @returns {Run}
 */
function protectionWindow(result, offeredPerS) {
  const p = result['protection'];
  return {
    ...result,
    ...(offeredPerS
      ? {
          offeredPerS,
          // Arrivals h2load still held in its own queue (beyond -c × -m in flight) at the end:
          // a proxy would have failed them open (Envoy: circuit breaker overflow).
          notSent: Math.max(0, Math.round(offeredPerS * result['elapsedS']) - result['started']),
        }
      : {}),
    // At most the answers h2load got: a stream it dropped at its end may still have been
    // decided from a verdict, and that answer reached nobody.
    verdictsPerS: Math.round(Math.min(p.verdicts, result['done']) / result['elapsedS']),
    share: p.share,
    // Cross-check (countsDiffer): what our server decided against what h2load sent and got.
    serverChecks: decidedChecks(result['decisions'] ?? {}),
    clientSent: result['started'],
    clientDone: result['done'],
  };
}

/**
 * Windows over rounds → checks/s, verdicts/s and the share, pooled over the rounds.
 * @param {Run[]} windows
 * @param {number} [offeredPerS]
 */
function protectionSummary(windows, offeredPerS) {
  /** @param {string} key */
  const sum = key => windows.reduce((total, w) => total + (w[key] ?? 0), 0);
  const observed = observedOverRounds(windows);
  const verdicts = observed.protection?.verdicts ?? 0;
  return {
    ...(offeredPerS ? { offeredPerS, notSent: sum('notSent') } : {}),
    // Pooled like the share: all of the rounds' checks over all of their time.
    checksPerS: Math.round(sum('done') / sum('elapsedS')),
    verdictsPerS: Math.round(Math.min(verdicts, sum('done')) / sum('elapsedS')),
    verdictsPerSRounds: windows.map(w => w['verdictsPerS']),
    share: observed.protection?.share,
    shareRounds: windows.map(w => sharePct(w['share'])),
    serverChecks: sum('serverChecks'),
    clientSent: sum('clientSent'),
    clientDone: sum('clientDone'),
    ...(windows[0]?.['readyAfterSpawnMs'] === undefined
      ? {}
      : { readyAfterSpawnMs: windows.map(w => w['readyAfterSpawnMs']) }),
    ...observed,
    rounds: windows,
  };
}

/**
 * The counts do not add up: our server decided checks h2load never sent, or the checks screened
 * (decided, plus answered without a decision) differ from the answers h2load got by more than
 * the streams it dropped at its end.
 * @param {Run} x
 */
const countsDiffer = x => {
  const slack = Math.max(5, 0.005 * x['clientSent']);
  return (
    x['serverChecks'] > x['clientSent'] + slack ||
    Math.abs(x['protection'].screened - x['clientDone']) > x['clientSent'] - x['clientDone'] + slack
  );
};

/**
 * @param {ProtectionResults} p
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function protectionVerdicts(p, add) {
  /** @param {Run} x */
  const counts = x =>
    `h2load sent ${x['clientSent']}, got ${x['clientDone']} answers; our server decided ${x['serverChecks']}${countsDiffer(x) ? ' [!] counts do not add up' : ''}`;
  /**
   * @param {string} label
   * @param {ProtectionSummary} x
   * @param {number} limit
   */
  const share = (label, x, limit, extra = '') =>
    add(
      label,
      `${sharePct(x.share)} %`,
      `≥ ${limit * 100} %`,
      Number(x.share) >= limit,
      `rounds ${x.shareRounds.join(', ')} %; protected ${protectedNote(x)}; ${counts(x)}${extra}`,
    );
  share(
    `fresh process at 1/3 of capacity (${p.rates.fresh}/s), first ${p.freshS} s after /readyz: protected share (all rounds)`,
    p.fresh,
    TARGETS.freshProtectedShare,
    `; ready ${p.fresh.readyAfterSpawnMs?.join(', ')} ms after spawn`,
  );
  for (const [key, load] of /** @type {const} */ ([
    ['load30', 30],
    ['load60', 60],
    ['load90', 90],
  ])) {
    share(
      `${load} % of capacity (${p.rates[key]}/s), steady: protected share (all rounds)`,
      p[key],
      TARGETS.steadyProtectedShare,
    );
  }
  const sat = p.saturation;
  const tripped = sat.protection?.failOpenByCause['rti_circuit_open'] ?? 0;
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
    return satRound?.['verdictsPerS'] > 0
      ? round3(w['verdictsPerS'] / satRound?.['verdictsPerS'])
      : '–';
  });
  // No verdict at saturation makes any ratio meaningless: that is a miss, not a pass.
  const ratio = sat.verdictsPerS > 0 ? round3(over.verdictsPerS / sat.verdictsPerS) : undefined;
  add(
    `150 % of capacity offered (${p.rates.overload150}/s): verdicts/s ÷ saturation verdicts/s (all rounds)`,
    ratio ?? `${over.verdictsPerS} verdicts/s, none at saturation`,
    `≥ ${TARGETS.overloadVerdictsRatio}`,
    ratio !== undefined && ratio >= TARGETS.overloadVerdictsRatio,
    `${over.verdictsPerS} ÷ ${sat.verdictsPerS} verdicts/s; round by round ${ratios.join(', ')}; ÷ capacity (${p.capacity} checks/s) ${round3(over.verdictsPerS / p.capacity)}; protected ${protectedNote(over)}; ${counts(over)}; ${over.notSent} arrivals still queued in h2load at the ends`,
  );
}

/**
 * The protection table, after the main one.
 * @param {ProtectionResults} p
 * @param {import('../lib/report-table.mjs').ReportConfig} c
 */
export function printProtection(p, c) {
  /** @param {ProtectionSummary} x */
  const causes = x =>
    Object.entries(x.protection?.failOpenByCause ?? {})
      .map(([cause, n]) => `${cause} ${n}`)
      .join(', ') || 'none';
  /**
   * @param {string} name
   * @param {ProtectionSummary} x
   */
  const row = (name, x, notes = '') => [
    name,
    fmt(x.offeredPerS),
    fmt(Math.round(x.checksPerS)),
    fmt(x.verdictsPerS),
    fmt(sharePct(x.share)),
    x.shareRounds.join('/'),
    `${x.clientSent}/${x.clientDone}/${x.serverChecks}${countsDiffer(x) ? ' [!]' : ''}`,
    ...observedCells(x, c),
    `fail-open: ${causes(x)}${notes}${sharedMark(x, c)}${loadBusyMark(x, c)}`,
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
        `; ready ${p.fresh.readyAfterSpawnMs?.join('/')} ms after spawn`,
      ),
      row('30 % of capacity', p.load30),
      row('60 % of capacity', p.load60),
      row('90 % of capacity', p.load90),
      row(`saturation (${c.h2Clients * c.h2Streams} in flight)`, p.saturation),
      row('150 % offered', p.overload150, `; ${p.overload150.notSent} still queued in h2load`),
    ],
  );
}
