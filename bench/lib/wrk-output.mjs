// @ts-check
// What wrk --latency prints, read. Pure, so that the fixtures in bench/fixtures (real wrk
// output) can test it.

import { round3 } from './stats.mjs';

/**
 * @typedef {object} WrkSummary
 * @property {'wrk'} tool
 * @property {number} reqPerS
 * @property {number} done responses received
 * @property {number} failed responses with a status other than 2xx or 3xx
 * @property {string} [socketErrors] wrk's "connect 0, read 0, write 0, timeout 8", when any
 * @property {{ p50?: number, p90?: number, p99?: number }} latencyMs
 */

/** Milliseconds per unit of wrk's durations ("251.00us", "3.80ms", "1.50s", "2.00m"). */
const MS_PER = /** @type {const} */ ({ us: 0.001, ms: 1, s: 1000, m: 60_000 });

/**
 * A wrk duration in ms (3 decimals); undefined when it is not one.
 * @param {string} text
 */
export function wrkUnitMs(text) {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) return undefined;
  return round3(Number(match[1]) * MS_PER[/** @type {keyof typeof MS_PER} */ (match[2])]);
}

/**
 * wrk's report; throws when it has no Requests/sec line (wrk did not run to its end).
 * @param {string} out
 * @returns {WrkSummary}
 */
export function parseWrkOutput(out) {
  const reqPerS = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(out)?.[1]);
  if (!Number.isFinite(reqPerS)) throw new Error(`cannot read wrk output:\n${out}`);
  /** @param {number} q */
  const latency = q => wrkUnitMs(new RegExp(`^\\s+${q}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  return {
    tool: 'wrk',
    reqPerS,
    done: Number(/(\d+) requests in/.exec(out)?.[1]),
    failed: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    ...(socketErrors ? { socketErrors } : {}),
    latencyMs: { p50: latency(50), p90: latency(90), p99: latency(99) },
  };
}
