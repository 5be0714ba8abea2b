// @ts-check
// The load generators, run on the load core: h2load (gRPC), wrk (NGINX auth_request), the
// grpc-js fixed-rate client, the challenge phase's and the memory phase's clients, each returning
// what it measured.

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUTH_REQUEST_PATH, CHECK_PATH } from '../realistic-request.mjs';
import { parseH2loadLog, parseH2loadOutput } from './h2load-output.mjs';
import { BENCH_DIR } from './paths.mjs';
import { pinned, runTool } from './processes.mjs';
import { parseWrkOutput } from './wrk-output.mjs';

/**
 * @typedef {import('./h2load-output.mjs').H2loadSummary
 *   & { latencyMs?: Partial<import('./stats.mjs').Percentiles> }} H2loadResult
 * @typedef {import('./wrk-output.mjs').WrkSummary} WrkResult
 */

/**
 * @typedef {object} H2loadOptions
 * @property {number} [durationS] measured seconds (with a log file: latency percentiles)
 * @property {number} [warmupS] h2load's own warm-up before them
 * @property {number} [requests] a request count instead of a duration
 * @property {number} [rps] a fixed total rate instead of a closed loop
 * @property {number} [clients] -c
 * @property {number} [streams] -m
 * @property {string} [cpu] taskset core list
 * @property {string} [requestFile] a framed CheckRequest other than the realistic one
 */

/**
 * @typedef {object} RateStats one kind of check (normal or hang) at a fixed rate
 * @property {number} sent
 * @property {number} ok answered with an allow
 * @property {Record<string, number>} errors by gRPC status name or status_<code>
 * @property {Record<string, string>} [errorDetails]
 * @property {number} ratePerS
 * @property {Partial<import('./stats.mjs').Percentiles>} latencyMs
 * @property {Partial<import('./stats.mjs').Percentiles>} scheduleLagMs
 */

/**
 * @typedef {object} RateOptions bench/grpc-rate-client.mjs's options
 * @property {number} rate
 * @property {number} durationS
 * @property {number} warmupS
 * @property {number} [hangRate]
 */

/**
 * @typedef {object} RateResult what bench/grpc-rate-client.mjs prints
 * @property {RateOptions} options
 * @property {number} elapsedS
 * @property {RateStats} normal
 * @property {RateStats} [hang]
 */

/**
 * @param {import('./knobs.mjs').Knobs} knobs
 * @param {string} workDir where prepareWorkDir() put the request files
 */
export function loadGenerators(knobs, workDir) {
  /**
   * h2load: the realistic CheckRequest as a gRPC POST, closed loop at -c × -m streams; with
   * `rps`, that many checks per second in all instead (at most -c × -m of them in flight:
   * h2load queues the arrivals beyond that on its side, without bound, and sends them as
   * streams free up).
   * @param {number} port
   * @param {H2loadOptions} [options]
   * @returns {Promise<H2loadResult>}
   */
  async function h2load(
    port,
    {
      durationS = knobs.durationS,
      warmupS = knobs.warmupS,
      requests,
      rps,
      clients = knobs.h2Clients,
      streams = knobs.h2Streams,
      cpu = knobs.loadCpu,
      requestFile = join(workDir, 'check-request.grpc'),
    } = {},
  ) {
    const logFile = join(workDir, `h2load-${port}-${Date.now()}.log`);
    const args = [
      '-c',
      String(clients),
      '-m',
      String(streams),
      '-t',
      '1',
      '-d',
      requestFile,
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      ...(knobs.grpcTimeout ? ['-H', `grpc-timeout: ${knobs.grpcTimeout}`] : []),
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
    /** @type {H2loadResult} */
    const result = parseH2loadOutput(await runTool(pinned(cpu, 'h2load', args), timeoutMs));
    if (!requests && existsSync(logFile)) {
      result.latencyMs = parseH2loadLog(readFileSync(logFile, 'utf8'));
      rmSync(logFile);
    }
    return result;
  }

  /**
   * wrk: the NGINX auth_request subrequest, closed loop on BENCH_WRK_CONNECTIONS connections;
   * a warm-up run first when `warmupS` > 0.
   * @param {number} port
   * @param {{ durationS?: number, warmupS?: number }} [options]
   * @returns {Promise<WrkResult>}
   */
  async function wrk(port, { durationS = knobs.durationS, warmupS = knobs.warmupS } = {}) {
    const url = `http://127.0.0.1:${port}${AUTH_REQUEST_PATH}`;
    const script = join(workDir, 'auth-request.lua');
    /** @param {number} seconds */
    const run = seconds =>
      runTool(
        pinned(knobs.loadCpu, 'wrk', [
          '-t1',
          `-c${knobs.wrkConnections}`,
          `-d${seconds}s`,
          '--latency',
          '-s',
          script,
          url,
        ]),
        (seconds + 30) * 1000,
      );
    if (warmupS > 0) await run(warmupS);
    return parseWrkOutput(await run(durationS));
  }

  /**
   * The grpc-js client at a fixed rate (open loop), checking every answer.
   * @param {number} port
   * @param {RateOptions} options
   * @returns {Promise<RateResult>}
   */
  async function rateClient(port, options) {
    const args = [
      join(BENCH_DIR, 'grpc-rate-client.mjs'),
      JSON.stringify({ target: `127.0.0.1:${port}`, ...options }),
    ];
    const out = await runTool(
      pinned(knobs.loadCpu, process.execPath, args),
      (options.durationS + 40) * 1000,
    );
    return JSON.parse(out.trim().split('\n').pop() ?? '');
  }

  /**
   * bench/challenge-client.mjs: a list of request variants, closed loop, every answer checked.
   * @param {Omit<import('../challenge-client.mjs').Options, 'requestsFile'>} options
   * @param {import('../realistic-request.mjs').Variant[]} variants
   * @returns {Promise<import('../challenge-client.mjs').ChallengeLoad>}
   */
  async function challengeClient(options, variants) {
    const requestsFile = join(workDir, `challenge-requests-${Date.now()}.json`);
    writeFileSync(requestsFile, JSON.stringify(variants));
    const args = [
      join(BENCH_DIR, 'challenge-client.mjs'),
      JSON.stringify({ ...options, requestsFile }),
    ];
    try {
      const out = await runTool(pinned(knobs.loadCpu, process.execPath, args), 600_000);
      return JSON.parse(out.trim().split('\n').pop() ?? '');
    } finally {
      rmSync(requestsFile);
    }
  }

  /**
   * bench/memory-client.mjs in one of its modes (population, fill, sync).
   * @template {import('../memory-client.mjs').Options} O
   * @param {O} options
   * @returns {Promise<O extends { mode: 'population' } ? import('../memory-client.mjs').PopulationLoad
   *   : O extends { mode: 'fill' } ? import('../memory-client.mjs').FillLoad
   *   : import('../memory-client.mjs').SyncLoad>}
   */
  async function memoryClient(options) {
    const args = [join(BENCH_DIR, 'memory-client.mjs'), JSON.stringify(options)];
    const out = await runTool(pinned(knobs.loadCpu, process.execPath, args), 900_000);
    return JSON.parse(out.trim().split('\n').pop() ?? '');
  }

  return { h2load, wrk, rateClient, challengeClient, memoryClient };
}

/** @typedef {ReturnType<typeof loadGenerators>} LoadGenerators */
