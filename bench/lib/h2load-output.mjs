// @ts-check
// What h2load prints, read: its summary on stdout and its per-request --log-file. Pure, so that
// the fixtures in bench/fixtures (real h2load output) can test it.

import { percentilesOf } from './stats.mjs';

/**
 * @typedef {object} H2loadSummary
 * @property {'h2load'} tool
 * @property {number} reqPerS answers per second over the measured time
 * @property {number} elapsedS the measured time
 * @property {number} started streams sent; those not done when the time was up were dropped
 * @property {number} done streams answered
 * @property {number} failed requests that did not succeed (h2load's `failed`, which includes
 *   its `errored` and `timeout` ones)
 */

/** h2load's durations: "5.00s", "41.40ms", "950us" (util::format_duration). */
const SECONDS_PER = /** @type {const} */ ({ s: 1, ms: 1e-3, us: 1e-6 });

/**
 * h2load's summary on stdout; throws when there is none (h2load did not run to its end).
 * @param {string} out
 * @returns {H2loadSummary}
 */
export function parseH2loadOutput(out) {
  const finished = /^finished in ([\d.]+)(s|ms|us), ([\d.]+) req\/s/m.exec(out);
  const counts =
    /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(
      out,
    );
  if (!finished || !counts) throw new Error(`cannot read h2load output:\n${out}`);
  const unit = /** @type {keyof typeof SECONDS_PER} */ (finished[2]);
  return {
    tool: 'h2load',
    reqPerS: Number(finished[3]),
    elapsedS: Number(finished[1]) * SECONDS_PER[unit],
    started: Number(counts[2]),
    done: Number(counts[3]),
    failed: Number(counts[5]),
  };
}

/**
 * Latency percentiles in ms from h2load's --log-file: one line per request, tab-separated start
 * time (µs since the epoch), status and duration (µs); {} when no request finished.
 * @param {string} log
 */
export function parseH2loadLog(log) {
  /** @type {number[]} */
  const latenciesMs = [];
  for (const line of log.split('\n')) {
    const micros = Number(line.split('\t')[2]);
    if (line && Number.isFinite(micros)) latenciesMs.push(micros / 1000);
  }
  return percentilesOf(latenciesMs);
}
