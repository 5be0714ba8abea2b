// @ts-check
// Phase challenge: what the served challenge costs (issue 22). One process of ours with a
// challenge secret, the RTI stand-in calling the marked visitor suspicious; over gRPC and over
// HTTP forward auth, in interleaved rounds, our server's CPU time per check for (a) an allow,
// (b) a served challenge page, (c) a verify request with a right proof of work, (d) an allow by
// a pass cookie (challenge_passed). The tokens of (c) come from pages our server served and
// are solved here, and the pass of (d) from a real verify, all before the measured window.

import { setImmediate } from 'node:timers/promises';
import { Pool } from 'undici';
import { passCookieOf, solveProofOfWork, tokenOfPage } from '../lib/challenge-tokens.mjs';
import { log } from '../lib/processes.mjs';
import { rounds, saturation } from '../lib/rounds.mjs';
import { median, round3 } from '../lib/stats.mjs';
import { FORWARD_AUTH_PATH, forwardAuthHeaders } from '../realistic-request.mjs';

/** Set for our server here; not the default path, so that the bench names what it verifies. */
const CHALLENGE_PATH = '/_bench/challenge';
/** A fixed bench-only signing secret (at least 32 bytes). */
const CHALLENGE_SECRET = 'bench-challenge-secret-not-for-production-use';
/** Warm-up checks before each measured window, as a share of BENCH_CHALLENGE_CHECKS. */
const WARMUP_SHARE = 0.2;

/** @typedef {'allow' | 'page' | 'verify' | 'passed'} CaseKey */

/** The four checks measured, each with the status a client gets and our decision's reason. */
const CASES = /** @type {const} */ ([
  { key: 'allow', label: '(a) allow', expectStatus: 200, reason: 'valid' },
  { key: 'page', label: '(b) challenge page', expectStatus: 403, reason: 'threat_challenge' },
  {
    key: 'verify',
    label: '(c) verify, proof of work',
    expectStatus: 302,
    reason: 'challenge_verify',
  },
  {
    key: 'passed',
    label: '(d) allow by pass cookie',
    expectStatus: 200,
    reason: 'challenge_passed',
  },
]);

/**
 * Per transport: the rounds as saturation() sums them (req/s and what was observed), with
 * `ratio` the CPU per check ÷ that of (a) allow in the same round, and the CPU per check.
 * @typedef {import('../lib/rounds.mjs').Saturation
 *   & { cpuUs: Record<string, { median: number | undefined, rounds: number[] }>,
 *       unexpected: Record<string, Record<string, number>> }} ChallengeCost
 * @typedef {{ grpc: ChallengeCost, http: ChallengeCost }} ChallengeResults
 */

/** @param {import('../lib/context.mjs').Bench} bench @returns {Promise<ChallengeResults>} */
export async function challengePhase(bench) {
  const { knobs } = bench;
  log('starting our server with a challenge secret');
  const ours = await bench.start(
    bench.servers.ours(bench.rtiUrl, {
      env: {
        CHEQ_CHALLENGE_SECRET: CHALLENGE_SECRET,
        CHEQ_CHALLENGE_PATH: CHALLENGE_PATH,
        CHEQ_CHALLENGE_DIFFICULTY: String(knobs.challengeDifficulty),
      },
    }),
  );
  const httpPort = Number(ours.info['httpPort']);
  const metricsPort = Number(ours.info['metricsPort']);
  const pool = new Pool(`http://127.0.0.1:${httpPort}`, { connections: knobs.wrkConnections });
  const warmup = Math.round(knobs.challengeChecks * WARMUP_SHARE);
  const browser = preparedBrowser(pool, knobs.challengeDifficulty, knobs.wrkConnections);

  /**
   * One transport's rounds.
   * @param {'grpc' | 'http'} transport
   */
  const measure = async transport => {
    const port = Number(ours.info[transport === 'grpc' ? 'grpcPort' : 'httpPort']);
    const targets = CASES.map(c => ({ ...c, server: ours, port, metricsPort }));
    const label = `challenge cost over ${transport === 'grpc' ? 'gRPC' : 'HTTP forward auth'}`;
    const all = await rounds(knobs.rounds, label, targets, async target => {
      const variants = await variantsOf(target.key, browser, warmup + knobs.challengeChecks);
      return bench.one(target, () =>
        bench.load.challengeClient(
          {
            transport,
            port,
            expectStatus: target.expectStatus,
            warmup,
            checks: knobs.challengeChecks,
            inFlight:
              transport === 'grpc' ? knobs.h2Clients * knobs.h2Streams : knobs.wrkConnections,
            channels: knobs.h2Clients,
            serverPid: ours.pid,
          },
          variants,
        ),
      );
    });
    return challengeCost(all);
  };
  try {
    return { grpc: await measure('grpc'), http: await measure('http') };
  } finally {
    await pool.close();
    const code = await ours.stop();
    if (code !== 0)
      log(`our challenge server exited with ${code}:\n${ours.tail.slice(-5).join('\n')}`);
  }
}

/**
 * The requests of a case: (a) the page load; (b) the same with the suspicious marker; (c) one
 * verify request per token, each solved; (d) (b) with a pass cookie.
 * @param {CaseKey} key
 * @param {ReturnType<typeof preparedBrowser>} browser
 * @param {number} count verify requests needed
 * @returns {Promise<import('../realistic-request.mjs').Variant[]>}
 */
async function variantsOf(key, browser, count) {
  switch (key) {
    case 'allow':
      return [{}];
    case 'page':
      return [{ suspicious: true }];
    case 'verify':
      return (await browser.solvedTokens(count)).map(uri => ({ suspicious: true, uri }));
    case 'passed':
      return [{ suspicious: true, cookie: await browser.pass() }];
  }
}

/**
 * What a browser does on our challenge, through forward auth: fetch pages, solve their tokens,
 * verify one for a pass.
 * @param {Pool} pool
 * @param {number} difficulty
 * @param {number} inFlight
 */
function preparedBrowser(pool, difficulty, inFlight) {
  /** @param {import('../realistic-request.mjs').Variant} variant */
  const get = async variant => {
    const { statusCode, headers, body } = await pool.request({
      path: FORWARD_AUTH_PATH,
      method: 'GET',
      headers: forwardAuthHeaders(variant),
    });
    return { statusCode, headers, text: await body.text() };
  };
  /** @param {string} token its verify URL, with the solution */
  const solved = token =>
    `${CHALLENGE_PATH}/verify?t=${token}&s=${solveProofOfWork(token, difficulty)}`;
  /**
   * The tokens of `count` served pages. A check that failed open (the RTI stand-in shares the
   * load core) is an allow without a token: asked again, up to `count` times in all.
   * @param {number} count
   */
  const tokens = async count => {
    /** @type {string[]} */
    const found = [];
    let failedOpen = 0;
    const worker = async () => {
      while (found.length < count) {
        const page = await get({ suspicious: true });
        if (page.statusCode === 403) found.push(tokenOfPage(page.text));
        else if (++failedOpen > count) {
          throw new Error(`${failedOpen} challenge pages were answered ${page.statusCode}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
    return found.slice(0, count);
  };
  return {
    /**
     * `count` verify URLs, each of a fresh page's token with its solution: all pages first,
     * then the solving, which would starve the RTI stand-in on the same core.
     * @param {number} count
     */
    async solvedTokens(count) {
      log(`fetching and solving ${count} challenge tokens (difficulty ${difficulty})`);
      /** @type {string[]} */
      const urls = [];
      for (const token of await tokens(count)) {
        urls.push(solved(token));
        // Seconds of solving in one go would leave the event loop blind to a keep-alive
        // connection the metrics endpoint closed meanwhile, and the next scrape would take it.
        if (urls.length % 100 === 0) await setImmediate();
      }
      return urls;
    },
    /** A pass cookie from a real verify, as the browser sends it back. */
    async pass() {
      const [token] = await tokens(1);
      const verify = await get({ suspicious: true, uri: solved(String(token)) });
      if (verify.statusCode !== 302) throw new Error(`a verify was answered ${verify.statusCode}`);
      return passCookieOf(verify.headers['set-cookie']);
    },
  };
}

/**
 * Rounds → saturation() of the four cases, then the CPU per check of each round, its median,
 * and the ratio to (a) in the same round instead of the req/s ratio.
 * @param {import('../lib/rounds.mjs').Round[]} all
 * @returns {ChallengeCost}
 */
export function challengeCost(all) {
  const summary = saturation(all, 'allow');
  /** @type {ChallengeCost['cpuUs']} */
  const cpuUs = {};
  /** @type {ChallengeCost['ratio']} */
  const ratio = {};
  /** @type {ChallengeCost['unexpected']} */
  const unexpected = {};
  /** @param {import('../lib/rounds.mjs').Run | undefined} run */
  const perCheck = run => Math.round((Number(run?.['serverCpuS']) * 1e6) / Number(run?.['done']));
  for (const { key, reason } of CASES) {
    const runs = all.map(round => round[key]);
    const us = runs.map(perCheck);
    cpuUs[key] = { median: median(us), rounds: us };
    const ratios = all.map(round => round3(perCheck(round[key]) / perCheck(round['allow'])));
    ratio[key] = { median: median(ratios), rounds: ratios };
    /** @type {Record<string, number>} */
    const wrong = {};
    for (const run of runs) {
      for (const [status, n] of Object.entries(run?.['unexpected'] ?? {})) {
        wrong[status] = (wrong[status] ?? 0) + Number(n);
      }
      // Our own count of the window (warm-up included) must hold every measured check.
      const missing = Number(run?.['done']) - (run?.['decisions']?.[reason] ?? 0);
      if (missing > 0) wrong[`not ${reason}`] = (wrong[`not ${reason}`] ?? 0) + missing;
    }
    unexpected[key] = wrong;
  }
  return { ...summary, ratio, cpuUs, unexpected };
}

/** "; 3 unexpected answers (500: 3) [!]" or "". @param {Record<string, number>} wrong */
const unexpectedNote = wrong => {
  const total = Object.values(wrong).reduce((a, b) => a + b, 0);
  return total === 0 ? '' : `; ${total} unexpected answers (${JSON.stringify(wrong)}) [!]`;
};

/**
 * The four rows of each transport: req/s, latency and what was observed as in the other phases,
 * ratio = CPU per check ÷ (a)'s, and the CPU per check of every round in the notes.
 * @param {ChallengeResults} results
 * @param {import('../lib/report-table.mjs').TableRows} table
 */
export function challengeRows(results, table) {
  for (const [transport, cost] of /** @type {const} */ ([
    ['gRPC', results.grpc],
    ['HTTP fwd-auth', results.http],
  ])) {
    for (const { key, label } of CASES) {
      const cpu = cost.cpuUs[key];
      const extra = `; CPU µs/check ${cpu?.median} (rounds ${cpu?.rounds.join('/')})${unexpectedNote(cost.unexpected[key] ?? {})}`;
      table.sat(`challenge ${transport} ${label}`, cost, key, extra);
    }
  }
}

/**
 * Information, not a target: CPU per check of (b), (c), (d) ÷ (a). A failure when any answer
 * was not the expected one (the phase would not have measured what it says).
 * @param {ChallengeResults} results
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function challengeVerdicts(results, add) {
  for (const [transport, cost] of /** @type {const} */ ([
    ['gRPC', results.grpc],
    ['HTTP forward auth', results.http],
  ])) {
    const wrong = CASES.flatMap(({ key }) => Object.values(cost.unexpected[key] ?? {}));
    const allExpected = wrong.every(n => n === 0);
    add(
      `challenge cost over ${transport}: CPU per check ÷ (a) allow, for (b) page, (c) verify, (d) pass cookie`,
      ['page', 'verify', 'passed'].map(key => cost.ratio[key]?.median).join(', '),
      'information; every answer as expected',
      allExpected ? undefined : false,
      CASES.map(({ key, label }) => `${label} ${cost.cpuUs[key]?.median} µs`).join(', '),
    );
  }
}
