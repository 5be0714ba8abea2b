// @ts-check
// The report of `npm run bench`: the verdict on every target, and the printed tables. Each
// phase writes its own rows and verdicts; this module puts them in the report's fixed order.

import { challengeRows, challengeVerdicts } from '../phases/challenge.mjs';
import { grpcRows, grpcVerdicts } from '../phases/grpc.mjs';
import { hangRows, hangVerdicts } from '../phases/hang.mjs';
import { httpRows, httpVerdicts } from '../phases/http.mjs';
import { memoryVerdicts, printMemory } from '../phases/memory-report.mjs';
import { millionVerdicts } from '../phases/million.mjs';
import { printProtection, protectionVerdicts } from '../phases/protection.mjs';
import { rateRows, rateVerdicts } from '../phases/rate.mjs';
import { v4Rows, v4Verdicts } from '../phases/v4.mjs';
import { workersVerdicts } from '../phases/workers.mjs';
import { observedHeader, printTable, tableRows } from './report-table.mjs';
import { TARGETS } from './targets.mjs';

/**
 * What the phases measured; a phase not run leaves its key out.
 * @typedef {object} Results
 * @property {import('./rounds.mjs').Run} ours our main server: pid, RSS and memory idle and after
 * @property {import('./rounds.mjs').Saturation} [grpc]
 * @property {import('../phases/v4.mjs').V4Saturation} [grpcV4]
 * @property {import('../phases/rate.mjs').FixedRate} [atRate]
 * @property {import('../phases/rate.mjs').H2loadAtRate} [atRateH2load]
 * @property {import('../phases/hang.mjs').HangResults['hangAtRate']} [hangAtRate]
 * @property {import('../phases/hang.mjs').HangResults['hangSaturation']} [hangSaturation]
 * @property {import('./rounds.mjs').Saturation} [http]
 * @property {import('../phases/v4.mjs').V4Saturation} [httpV4]
 * @property {{ pid: number, rssAfterMb: number | undefined }} [oursV4]
 * @property {Awaited<ReturnType<typeof import('../phases/million.mjs').millionChecks>>} [million]
 * @property {import('./rounds.mjs').Saturation} [workers]
 * @property {import('../phases/protection.mjs').ProtectionResults} [protection]
 * @property {import('../phases/challenge.mjs').ChallengeResults} [challenge]
 * @property {import('../phases/memory.mjs').MemoryResults} [memory]
 */

/**
 * @typedef {object} Verdict
 * @property {string} target
 * @property {unknown} measured
 * @property {string} limit
 * @property {boolean | undefined} pass undefined: information, not a target
 * @property {string} [note]
 */

/**
 * @typedef {object} Environment
 * @property {string} node
 * @property {string | undefined} cpu
 * @property {number} cpus
 * @property {number[]} loadAverageBefore
 * @property {number[]} loadAverageAfter
 * @property {string | undefined} commit
 * @property {string[]} distStaleVersusSrc
 */

/**
 * The verdict on every target, in the report's order.
 * @param {Results} r
 * @param {import('./knobs.mjs').Knobs} knobs
 * @returns {Verdict[]}
 */
export function verdicts(r, knobs) {
  /** @type {Verdict[]} */
  const out = [];
  /** @type {import('./report-table.mjs').AddVerdict} */
  const add = (target, measured, limit, pass, note) => {
    out.push({ target, measured, limit, pass, ...(note ? { note } : {}) });
  };

  if (r.grpc) grpcVerdicts(r.grpc, add);
  if (r.http) httpVerdicts(r.http, add);
  if (r.grpcV4) v4Verdicts('gRPC', r.grpcV4, add);
  if (r.httpV4) v4Verdicts('HTTP', r.httpV4, add);
  if (r.atRate && r.atRateH2load) rateVerdicts(r.atRate, r.atRateH2load, add);
  if (r.hangAtRate && r.hangSaturation) {
    const hang = { hangAtRate: r.hangAtRate, hangSaturation: r.hangSaturation };
    hangVerdicts(hang, r.atRate, knobs, add);
  }
  if (r.protection) protectionVerdicts(r.protection, add);
  if (r.challenge) challengeVerdicts(r.challenge, add);
  if (r.memory) memoryVerdicts(r.memory, add);

  const saturated = [
    r.grpc?.median['ours'],
    r.http?.median['ours'],
    r.grpcV4?.median['ours'],
    r.httpV4?.median['ours'],
    ...Object.values(r.hangSaturation?.ours.median ?? {}),
  ];
  const rss = Math.max(...saturated.filter(x => x !== undefined).map(x => x['rssMaxMb']));
  if (Number.isFinite(rss)) {
    add(
      'RSS at saturation (max sampled)',
      `${rss} MB`,
      `≤ ${TARGETS.rssMb} MB`,
      rss <= TARGETS.rssMb,
    );
  }
  if (r.workers) workersVerdicts(r.workers, add);
  millionVerdicts(r.million, add);
  return out;
}

/**
 * The printed report: the header lines, the main table, the protection table, the memory
 * series and the targets.
 * @param {{ environment: Environment, config: import('./report-table.mjs').ReportConfig, results: Results, verdicts: Verdict[] }} report
 */
export function printReport({ environment: e, config: c, results: r, verdicts: v }) {
  const table = tableRows(c);
  if (r.grpc) grpcRows(r.grpc, table);
  if (r.grpcV4) v4Rows('gRPC', r.grpcV4, table);
  if (r.http) httpRows(r.http, table);
  if (r.httpV4) v4Rows('HTTP', r.httpV4, table);
  if (r.atRate && r.atRateH2load) rateRows(r.atRate, r.atRateH2load, table);
  if (r.hangAtRate && r.hangSaturation) {
    hangRows({ hangAtRate: r.hangAtRate, hangSaturation: r.hangSaturation }, c.hangRate, table);
  }
  if (r.challenge) challengeRows(r.challenge, table);

  const header = [
    'target',
    'req/s',
    'prot %',
    'p50 ms',
    'p99 ms',
    'RSS MB',
    ...observedHeader(c),
    'ratio',
    'rounds req/s; notes',
  ];
  console.log(
    `\ncheq-rti-authz bench — node ${e.node}, ${e.cpus}× ${e.cpu}, commit ${e.commit}, load avg before ${e.loadAverageBefore.join(' ')}`,
  );
  console.log(
    `server core ${c.serverCpu} (one target driven at a time); load generators on core ${c.loadCpu}, RTI stand-in (${c.rtiLatencyMs} ms) on core ${c.rtiCpu}. ${c.rounds} interleaved rounds of ${c.durationS} s (latency ${c.latencyDurationS} s) per target; medians shown. h2load -c${c.h2Clients} -m${c.h2Streams}, wrk -c${c.wrkConnections}; ours runs with node ${c.ourNodeArgs.join(' ') || '(no flags)'}, the references with ${c.referenceNodeArgs.join(' ') || '(no flags)'}. ratio = median over rounds of req/s ÷ the reference with an RTI call (v4 rows: ours with CHEQ_API_VERSION=v4 ÷ the reference making the v4 JSON call, in rounds of their own; hang rows: ÷ ours without hangs; challenge rows: our CPU per check ÷ that of the allow row, in the same round, with BENCH_CHALLENGE_CHECKS checks per round from the bench's own client).\n`,
  );
  if (table.rows.length > 0) {
    console.log(
      "prot % = our server's protected share: checks answered from an RTI verdict ÷ checks screened (verdicts, fail-opens of any cause, answers without a decision; not the streams h2load drops at its end).\n",
    );
    printTable(header, table.rows);
  }
  if (r.protection) printProtection(r.protection, c);
  if (r.memory) printMemory(r.memory, c);
  if (r.million) {
    console.log(
      `\nRSS over ${r.million.checks} checks (MB): ${r.million.series.map(s => s.rssMb).join(' → ')}`,
    );
  }
  console.log('\ntargets:');
  for (const x of v) {
    const mark = x.pass === true ? 'PASS' : x.pass === false ? 'FAIL' : 'info';
    console.log(
      `  ${mark}  ${x.target}: ${String(x.measured)} (target ${x.limit})${x.note ? ` — ${x.note}` : ''}`,
    );
  }
}
