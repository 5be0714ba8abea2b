// @ts-check
// BENCH_MILLION=1: BENCH_MILLION_CHECKS checks to our server in BENCH_MILLION_CHUNKS h2load
// runs, RSS and heap sampled after each: memory must stay flat.

import { rssMb } from '../lib/observe.mjs';
import { log } from '../lib/processes.mjs';
import { memoryMetrics } from '../lib/scrape.mjs';
import { TARGETS } from '../lib/targets.mjs';

/**
 * @typedef {object} MillionPoint
 * @property {number} checks so far
 * @property {number | undefined} rssMb
 * @property {number} reqPerS of this chunk
 * @property {number} failed in this chunk
 */

/**
 * @param {import('../lib/context.mjs').Bench} bench
 * @param {import('../lib/context.mjs').Started} ours
 */
export async function millionChecks(bench, ours) {
  const { knobs } = bench;
  const chunk = Math.ceil(knobs.millionChecks / knobs.millionChunks);
  /** @type {(MillionPoint & Awaited<ReturnType<typeof memoryMetrics>>)[]} */
  const series = [];
  let checks = 0;
  const started = Date.now();
  for (let i = 0; i < knobs.millionChunks; i++) {
    const result = await bench.load.h2load(Number(ours.info['grpcPort']), { requests: chunk });
    checks += result.done;
    series.push({
      checks,
      rssMb: rssMb(ours.pid),
      ...(await memoryMetrics(Number(ours.info['metricsPort']))),
      reqPerS: result.reqPerS,
      failed: result.failed,
    });
    log(`our server: ${checks} checks, RSS ${series.at(-1)?.rssMb} MB`);
  }
  return { checks, elapsedS: (Date.now() - started) / 1000, series };
}

/**
 * RSS from the second sample to the last grows by at most the target; not run: said so.
 * @param {Awaited<ReturnType<typeof millionChecks>> | undefined} million
 * @param {import('../lib/report-table.mjs').AddVerdict} add
 */
export function millionVerdicts(million, add) {
  if (!million) {
    add('RSS flat after 1 million checks', 'not run', 'BENCH_MILLION=1', undefined);
    return;
  }
  const { series } = million;
  const from = series[Math.min(1, series.length - 1)];
  const last = series.at(-1);
  if (!from || !last) return;
  const growth = (Number(last.rssMb) - Number(from.rssMb)) / Number(from.rssMb);
  add(
    `RSS flat over ${million.checks} checks (from ${from.checks} checks to the end)`,
    `${from.rssMb} → ${last.rssMb} MB (${Math.round(growth * 1000) / 10}%)`,
    `≤ ${TARGETS.rssGrowthRatio * 100}%`,
    growth <= TARGETS.rssGrowthRatio,
  );
}
