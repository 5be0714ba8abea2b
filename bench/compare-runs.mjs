// @ts-check
// Several bench runs side by side, with the best, the median and the spread of each number:
// the machine is shared and one run is one sample.
//
//   node bench/compare-runs.mjs                     every bench/results/run-*.json
//   node bench/compare-runs.mjs FILE.json ...       the runs given

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR } from './lib/paths.mjs';
import { median } from './lib/stats.mjs';

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  console.log('usage: node bench/compare-runs.mjs [bench/results/run-*.json ...]');
  process.exit(0);
}
const files = argv.length
  ? argv
  : readdirSync(RESULTS_DIR)
      .filter(file => /^run-.*\.json$/.test(file))
      .sort()
      .map(file => join(RESULTS_DIR, file));
if (files.length === 0) {
  console.error('no runs: npm run bench first');
  process.exit(2);
}
/** A run as bench/run.mjs wrote it: read loosely, a missing phase shows as –. @type {any[]} */
const runs = [];
for (const file of files) {
  try {
    runs.push(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    console.error(`${file}: not a bench run (${err instanceof Error ? err.message : err})`);
    process.exit(2);
  }
}

/** [label, read(results), higher is better?] @type {[string, (r: any) => number, boolean][]} */
const METRICS = [
  ['gRPC req/s ours', r => r.grpc.median.ours.reqPerS, true],
  ['gRPC req/s (2) grpc-js + undici', r => r.grpc.median.grpcUndici.reqPerS, true],
  ['gRPC req/s (1) bare grpc-js', r => r.grpc.median.grpcBare.reqPerS, true],
  ['gRPC ratio ours / (2)', r => r.grpc.ratio.ours.median, true],
  ['gRPC v4 req/s ours', r => r.grpcV4.median.ours.reqPerS, true],
  ['gRPC v4 req/s (2v4) grpc-js + undici', r => r.grpcV4.median.grpcUndiciV4.reqPerS, true],
  ['gRPC v4 ratio ours / (2v4)', r => r.grpcV4.ratio.ours.median, true],
  ['HTTP req/s ours', r => r.http.median.ours.reqPerS, true],
  ['HTTP req/s (4) node:http + undici', r => r.http.median.httpUndici.reqPerS, true],
  ['HTTP req/s (3) bare node:http', r => r.http.median.httpBare.reqPerS, true],
  ['HTTP ratio ours / (4)', r => r.http.ratio.ours.median, true],
  ['HTTP v4 req/s ours', r => r.httpV4.median.ours.reqPerS, true],
  ['HTTP v4 req/s (4v4) node:http + undici', r => r.httpV4.median.httpUndiciV4.reqPerS, true],
  ['HTTP v4 ratio ours / (4v4)', r => r.httpV4.ratio.ours.median, true],
  ['fixed rate, checks/s', r => r.atRate.rounds[0].ours.options.rate, true],
  ['  ours p50 ms', r => r.atRate.median.ours.normal.latencyMs.p50, false],
  ['  (2) p50 ms', r => r.atRate.median.grpcUndici.normal.latencyMs.p50, false],
  ['  ours p99 ms', r => r.atRate.median.ours.normal.latencyMs.p99, false],
  ['  (2) p99 ms', r => r.atRate.median.grpcUndici.normal.latencyMs.p99, false],
  ['  (1) p99 ms', r => r.atRate.median.grpcBare.normal.latencyMs.p99, false],
  [
    '  added p99 ms: ours − (2)',
    r =>
      r.atRate.median.ours.normal.latencyMs.p99 - r.atRate.median.grpcUndici.normal.latencyMs.p99,
    false,
  ],
  ['hung checks p99 ms, ours', r => r.hangAtRate.median.ours.hang.latencyMs.p99, false],
  ['hung checks p99 ms, (2)', r => r.hangAtRate.median.grpcUndici.hang.latencyMs.p99, false],
  [
    'hung: others sat. / sat.',
    r => (r.hangSaturation.ours ?? r.hangSaturation).ratio.hung.median,
    true,
  ],
  ['  (2): others sat. / sat.', r => r.hangSaturation.reference.ratio.hung.median, true],
  [
    'RSS max at saturation MB',
    r =>
      Math.max(
        ...[r.grpc, r.http, r.grpcV4, r.httpV4]
          .filter(Boolean)
          .map(phase => phase.median.ours.rssMaxMb),
      ),
    false,
  ],
];

/** @param {number} x */
const round = x => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 1000) / 1000);
const rows = METRICS.map(([label, read, higherIsBetter]) => {
  const values = runs.map(run => {
    try {
      return read(run.results);
    } catch {
      return NaN;
    }
  });
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const best = higherIsBetter ? sorted.at(-1) : sorted[0];
  const spread = Number(sorted.at(-1)) - Number(sorted[0]);
  return [
    label,
    ...values.map(round),
    round(Number(best)),
    round(Number(median(sorted))),
    round(spread),
  ].map(String);
});

const header = [
  'metric',
  ...runs.map(run => `${run.startedAt.slice(11, 16)} (${run.environment.loadAverageBefore[0]})`),
  'best',
  'median',
  'spread',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map(row => row[i]?.length ?? 0)));
/** @param {string[]} cells */
const line = cells =>
  cells
    .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
    .join('  ');
console.log(`${runs.length} runs (column: start time UTC and 1-min load average before it)\n`);
console.log(line(header));
console.log(line(widths.map(w => '-'.repeat(w))));
for (const row of rows) console.log(line(row));
