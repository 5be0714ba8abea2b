// @ts-check
// What every phase of `npm run bench` is given: the knobs, the load generators, the server
// starters, the RTI stand-in, and a way to start a process that is stopped at the end whatever
// happens.

import { counted } from './counted.mjs';
import { loadGenerators } from './load-generators.mjs';
import { observe } from './observe.mjs';

/** @typedef {import('./processes.mjs').Started} Started */

/**
 * @typedef {object} Target one server driven in the rounds of a phase
 * @property {string} key its key in the results (ours, grpcUndici, …)
 * @property {Started} server
 * @property {number} port the port the load goes to
 * @property {number} [metricsPort] ours only: its decisions are counted
 * @property {boolean} [hangs] hang phase: hung checks run beside the load
 */

/**
 * @param {import('./knobs.mjs').Knobs} knobs
 * @param {string} workDir
 * @param {import('./servers.mjs').ServerStarters} servers
 * @param {string} rtiUrl the RTI stand-in
 */
export function benchContext(knobs, workDir, servers, rtiUrl) {
  /** @type {Started[]} */
  const started = [];
  return {
    knobs,
    rtiUrl,
    /** Where the bench's request files are: a phase may write its own there. */
    workDir,
    load: loadGenerators(knobs, workDir),
    servers,
    /**
     * Waits for a process to be ready and keeps it, to be stopped by stopAll().
     * @template {Started} S
     * @param {Promise<S>} promise
     * @returns {Promise<S>}
     */
    async start(promise) {
      const server = await promise;
      started.push(server);
      return server;
    },
    /**
     * One load on one target: its RSS and CPU observed, RTI calls (and our decisions) counted.
     * @template {object} T
     * @param {Target} target
     * @param {() => Promise<T>} load
     */
    one(target, load) {
      return counted(rtiUrl, target.metricsPort, () => observe(target.server.pid, load));
    },
    /** The warm-up of a round: longer for the first. @param {number} round */
    warmupS(round) {
      return round === 0 ? knobs.warmupS : knobs.roundWarmupS;
    },
    /** Stops every process start() kept (those already stopped return at once). */
    async stopAll() {
      for (const server of started) await server.stop();
    },
  };
}

/** @typedef {ReturnType<typeof benchContext>} Bench */
