// @ts-check
// The memory phase's gRPC client: Check calls as Envoy sends them (lib/envoy-like-sender.mjs:
// HTTP/2 straight, at most 32 streams a connection as our server allows, a 200 ms deadline each
// after which the call is reset and failed open), three modes:
//
// - population: bots and people (lib/population.mjs), repeat visitors picked at random, open
//   loop at a fixed rate; at most maxInFlight calls in flight, as Envoy's cluster circuit
//   breaker allows (1,024 by default): an arrival past it is not sent and counted as overflow,
//   which a proxy fails open. Every answer is tallied per population: allowed (status.code 0),
//   blocked (any denied_response) or a gRPC error. With serverPid, the server's CPU time over
//   the measured seconds (after the warm-up).
// - fill: `count` unique bots (first..first+count-1), closed loop at inFlight.
// - sync: for each of `bots` new bots, one call to `target` until it is blocked (RTI healthy
//   there), then calls to `follower` one after the other until one is blocked: the time from
//   the first block's answer to the follower's, or null when none came within giveUpMs.
//
//   node bench/memory-client.mjs '{"mode":"population","target":"127.0.0.1:9001","rate":1000,"durationS":30}'
//
// Prints one JSON line (PopulationLoad, FillLoad or SyncLoad), with errorDetails: the first
// message of each gRPC error status met.

import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { envoyLikeSender } from './lib/envoy-like-sender.mjs';
import { cpuSeconds } from './lib/observe.mjs';
import { emptyTally, randomVisitor, uniqueBot, visitorOf } from './lib/population.mjs';
import { percentilesOf, round3 } from './lib/stats.mjs';
import { checkRequestObject, grpcFrame, loadExtAuthz } from './realistic-request.mjs';

/**
 * @typedef {object} PopulationOptions
 * @property {'population'} mode
 * @property {string} target host:port
 * @property {number} rate checks/s, both populations together
 * @property {number} durationS measured
 * @property {number} [warmupS] sent the same way before, not counted (0)
 * @property {number} [bots] (1000)
 * @property {number} [people] (1000)
 * @property {'both' | 'bots' | 'people'} [only] who is sent ('both')
 * @property {number} [maxInFlight] (1024)
 * @property {number} [serverPid] the server whose CPU time is read around the measured seconds
 */
/**
 * @typedef {object} FillOptions
 * @property {'fill'} mode
 * @property {string} target
 * @property {number} count unique bots
 * @property {number} [first] the first one's number (0)
 * @property {number} [inFlight] (256)
 */
/**
 * @typedef {object} SyncOptions
 * @property {'sync'} mode
 * @property {string} target the replica whose RTI blocks the bot
 * @property {string} follower the replica that must then remember it
 * @property {number} bots new bots, one after the other
 * @property {number} [first] the first one's number (0)
 * @property {number} [giveUpMs] per bot (5000)
 */
/** @typedef {(PopulationOptions | FillOptions | SyncOptions) & { deadlineMs?: number }} Options */

/**
 * @typedef {object} PopulationLoad
 * @property {number} elapsedS
 * @property {{ bot: import('./lib/population.mjs').Tally, person: import('./lib/population.mjs').Tally }} tallies
 * @property {Partial<import('./lib/stats.mjs').Percentiles>} latencyMs
 * @property {Partial<import('./lib/stats.mjs').Percentiles>} scheduleLagMs
 * @property {number} warmupSent arrivals during the warm-up (not in the tallies)
 * @property {Record<string, string>} [errorDetails] the first message of each gRPC error status
 * @property {number} [serverCpuS]
 */
/** @typedef {{ elapsedS: number, tally: import('./lib/population.mjs').Tally }} FillLoad */
/** @typedef {{ delaysMs: (number | null)[], firstBlockMs: number[] }} SyncLoad */

/** What became of a call. @typedef {import('./lib/envoy-like-sender.mjs').Outcome | 'overflow'} Outcome */
/** The first gRPC error message of each status name, printed with the result. @type {Record<string, string>} */
const errorDetails = {};
const USAGE = `usage: node bench/memory-client.mjs '{"mode":"population|fill|sync","target":"127.0.0.1:N",…}' (see the header of bench/memory-client.mjs)`;

/** The JSON argument; a bad one ends the process with the usage. @returns {Options} */
function readOptions() {
  /** @type {Record<string, unknown>} */
  let given = {};
  try {
    given = JSON.parse(process.argv[2] ?? '');
  } catch {
    // The check below reports it.
  }
  const numbers = Object.entries(given ?? {}).filter(([, v]) => typeof v === 'number');
  const needs = {
    population: ['rate', 'durationS'],
    fill: ['count'],
    sync: ['bots'],
  };
  const mode = given?.['mode'];
  const valid =
    typeof given === 'object' &&
    given !== null &&
    (mode === 'population' || mode === 'fill' || mode === 'sync') &&
    typeof given['target'] === 'string' &&
    (mode !== 'sync' || typeof given['follower'] === 'string') &&
    needs[mode].every(key => typeof given[key] === 'number') &&
    numbers.every(([, v]) => Number.isFinite(v) && Number(v) >= 0);
  if (!valid) {
    console.error(`${USAGE}\ngot ${process.argv[2]}`);
    process.exit(2);
  }
  return /** @type {Options} */ (/** @type {unknown} */ (given));
}

const options = readOptions();
const { check } = loadExtAuthz();

/** @param {import('./lib/population.mjs').Visitor} visitor */
const messageOf = ({ clientIp, userAgent }) =>
  check.requestSerialize(checkRequestObject({ clientIp, userAgent }));

/** One Envoy-like sender to `target` (lib/envoy-like-sender.mjs). @param {string} target */
const sender = target =>
  envoyLikeSender(target, {
    deadlineMs: options.deadlineMs ?? 200,
    maxInFlight: options.mode === 'population' ? (options.maxInFlight ?? 1024) : 1024,
  });

/**
 * @param {import('./lib/population.mjs').Tally} tally
 * @param {Outcome} outcome
 */
function count(tally, outcome) {
  if (typeof outcome === 'string') tally[outcome]++;
  else {
    tally.errors[outcome.error] = (tally.errors[outcome.error] ?? 0) + 1;
    if (outcome.detail) errorDetails[outcome.error] ??= outcome.detail;
  }
}

/**
 * @param {PopulationOptions} o
 * @param {Awaited<ReturnType<typeof sender>>} s
 * @returns {Promise<PopulationLoad>}
 */
async function population(o, s) {
  const bots = o.bots ?? 1000;
  const people = o.people ?? 1000;
  const only = o.only ?? 'both';
  const first = only === 'people' ? bots : 0;
  const size = only === 'bots' ? bots : only === 'people' ? people : bots + people;
  const visitors = Array.from({ length: size }, (_, i) => visitorOf(first + i, bots));
  const frames = visitors.map(visitor => grpcFrame(messageOf(visitor)));
  const pick = randomVisitor(size);

  /**
   * @typedef {object} Driven
   * @property {number} elapsedS from the first call to the last answer
   * @property {PopulationLoad['tallies']} tallies
   * @property {number[]} latencies of the calls sent, ms
   * @property {number[]} lags how late each arrival was issued, ms
   */
  /**
   * Sends at o.rate for `durationS`; resolves once every call is answered.
   * @param {number} durationS
   * @returns {Promise<Driven>}
   */
  const drive = durationS => {
    const tallies = { bot: emptyTally(), person: emptyTally() };
    /** @type {number[]} */
    const latencies = [];
    /** @type {number[]} */
    const lags = [];
    let sent = 0;
    let inFlight = 0;
    let done = false;
    const start = performance.now();
    const end = start + durationS * 1000;
    return new Promise(resolve => {
      const finish = () =>
        resolve({ elapsedS: round3((performance.now() - start) / 1000), tallies, latencies, lags });
      const tick = () => {
        const now = Math.min(performance.now(), end);
        const due = Math.floor(((now - start) / 1000) * o.rate);
        while (sent < due) {
          const index = pick();
          const tally =
            tallies[/** @type {import('./lib/population.mjs').Visitor} */ (visitors[index]).kind];
          lags.push(performance.now() - (start + (sent / o.rate) * 1000));
          sent++;
          tally.sent++;
          const sending = s.send(/** @type {Buffer} */ (frames[index]));
          if (sending === 'overflow') {
            tally.overflow++;
            continue;
          }
          inFlight++;
          const issuedAt = performance.now();
          void sending.then(outcome => {
            latencies.push(performance.now() - issuedAt);
            count(tally, outcome);
            if (--inFlight === 0 && done) finish();
          });
        }
        if (now < end) setTimeout(tick, 1);
        else {
          done = true;
          if (inFlight === 0) finish();
        }
      };
      tick();
    });
  };

  const warmup = (o.warmupS ?? 0) > 0 ? await drive(/** @type {number} */ (o.warmupS)) : undefined;
  const cpuBefore = o.serverPid ? cpuSeconds(o.serverPid) : 0;
  const run = await drive(o.durationS);
  return {
    elapsedS: run.elapsedS,
    tallies: run.tallies,
    warmupSent: warmup ? warmup.tallies.bot.sent + warmup.tallies.person.sent : 0,
    latencyMs: percentilesOf(run.latencies),
    scheduleLagMs: percentilesOf(run.lags),
    ...(o.serverPid ? { serverCpuS: round3(cpuSeconds(o.serverPid) - cpuBefore) } : {}),
  };
}

/** @param {FillOptions} o @param {Awaited<ReturnType<typeof sender>>} s @returns {Promise<FillLoad>} */
async function fill(o, s) {
  const tally = emptyTally();
  const first = o.first ?? 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < o.count) {
      const frame = grpcFrame(messageOf(uniqueBot(first + next++)));
      tally.sent++;
      count(tally, await s.send(frame));
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.inFlight ?? 256, o.count) }, worker));
  return { elapsedS: round3((performance.now() - started) / 1000), tally };
}

/** @param {SyncOptions} o @param {Awaited<ReturnType<typeof sender>>} s @returns {Promise<SyncLoad>} */
async function sync(o, s) {
  const follower = await sender(o.follower);
  const giveUpMs = o.giveUpMs ?? 5000;
  /** @type {(number | null)[]} */
  const delaysMs = [];
  /** @type {number[]} */
  const firstBlockMs = [];
  try {
    for (let i = 0; i < o.bots; i++) {
      const frame = grpcFrame(messageOf(uniqueBot((o.first ?? 0) + i)));
      const asked = performance.now();
      const first = await s.send(frame);
      if (first !== 'blocked')
        throw new Error(`the first replica answered ${JSON.stringify(first)}`);
      const blockedAt = performance.now();
      firstBlockMs.push(round3(blockedAt - asked));
      let delay = null;
      while (performance.now() - blockedAt < giveUpMs) {
        if ((await follower.send(frame)) === 'blocked') {
          delay = round3(performance.now() - blockedAt);
          break;
        }
      }
      delaysMs.push(delay);
    }
  } finally {
    follower.close();
  }
  return { delaysMs, firstBlockMs };
}

const s = await sender(options.target);
const result =
  options.mode === 'population'
    ? await population(options, s)
    : options.mode === 'fill'
      ? await fill(options, s)
      : await sync(options, s);
s.close();
console.log(JSON.stringify({ ...result, errorDetails, closes: s.closes }));
// A channel still reconnecting (server gone) would keep the process alive.
process.exit(0);
