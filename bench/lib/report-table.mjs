// @ts-check
// The printed report's pieces: a padded table, cells that show a missing number as "–", the
// observed-cores columns, and the rows every throughput phase writes.

import { sharePct } from './protection.mjs';
import { median, round3 } from './stats.mjs';

/**
 * The settings a report was made with: the knobs, the phases as a list, and the node flags.
 * @typedef {Omit<import('./knobs.mjs').Knobs, 'phases'>
 *   & { phases: string[], ourNodeArgs: string[], referenceNodeArgs: string[] }} ReportConfig
 */
/** @typedef {import('./rounds.mjs').Run} Run */
/** @typedef {import('./rounds.mjs').Saturation} Saturation */
/** A verdict on a target. @typedef {(target: string, measured: unknown, limit: string, pass: boolean | undefined, note?: string) => void} AddVerdict */

/** Past this, the load core's own queueing shows in the fixed-rate latencies. */
const LOAD_CORE_BUSY_PCT = 75;

/** @param {unknown} x */
export const fmt = x =>
  x === undefined || (typeof x === 'number' && Number.isNaN(x)) ? '–' : String(x);

/** What observe() saw: the server process's CPU and how busy the two cores were. */
export const observedHeader = /** @param {ReportConfig} c */ c => [
  'srv CPU%',
  `cpu${c.serverCpu} %`,
  `cpu${c.loadCpu} %`,
];
/** @param {Run} x @param {ReportConfig} c */
export const observedCells = (x, c) => [
  fmt(x['serverCpuPct']),
  fmt(x['coreBusyPct']?.[c.serverCpu]),
  fmt(x['coreBusyPct']?.[c.loadCpu]),
];

/** The server core busier than the server itself: something else ran there. */
export const sharedMark = /** @param {Run} x @param {ReportConfig} c */ (x, c) =>
  x['serverCpuPct'] !== undefined && x['coreBusyPct']?.[c.serverCpu] - x['serverCpuPct'] > 3
    ? ' [!] server core shared'
    : '';
/** The load core nearly full: latencies then include the client's own queueing. */
export const loadBusyMark = /** @param {Run} x @param {ReportConfig} c */ (x, c) =>
  x['coreBusyPct']?.[c.loadCpu] > LOAD_CORE_BUSY_PCT ? ' [!] load core busy' : '';

/**
 * Columns padded to their widest cell: the first and the last left-aligned, the others right.
 * @param {string[]} header
 * @param {string[][]} rows
 */
export function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(x => x[i]?.length ?? 0)));
  /** @param {string[]} cells */
  const line = cells =>
    cells
      .map((cell, i) =>
        i === 0 || i === cells.length - 1
          ? cell.padEnd(widths[i] ?? 0)
          : cell.padStart(widths[i] ?? 0),
      )
      .join('  ');
  console.log(line(header));
  console.log(line(widths.map(w => '-'.repeat(w))));
  for (const cells of rows) console.log(line(cells));
}

/**
 * The rows of the main table and the ways the phases write them.
 * @param {ReportConfig} c
 */
export function tableRows(c) {
  /** @type {string[][]} */
  const rows = [];
  /** @param {Run} x */
  const held = x =>
    x['hungHeldMs']
      ? `; RTI side held p50/p99 ${x['hungHeldMs'].p50}/${x['hungHeldMs'].p99} ms`
      : '';
  /** @param {Run} x */
  const failOpen = x =>
    x['decisions'] === undefined ? '' : `, fail_open ${x['decisions'].fail_open ?? 0}`;
  /** @param {Run} x */
  const cpuCells = x => [fmt(x['rssMaxMb']), ...observedCells(x, c)];
  /** @param {Run} x */
  const protectedCell = x => fmt(sharePct(x['protection']?.share));
  /** @param {Run} x */
  const notes = x => `${failOpen(x)}${sharedMark(x, c)}`;
  /**
   * A row of h2load/wrk medians: req/s, latency, what was observed, then ratio and notes.
   * @param {string} name
   * @param {Run} x
   * @param {string} ratio
   * @param {string} rowNotes
   */
  const loadRow = (name, x, ratio, rowNotes) =>
    rows.push([
      name,
      fmt(Math.round(x['reqPerS'])),
      protectedCell(x),
      fmt(x['latencyMs']?.p50),
      fmt(x['latencyMs']?.p99),
      ...cpuCells(x),
      ratio,
      rowNotes,
    ]);
  return {
    rows,
    loadRow,
    /** A fixed-rate row (h2load --rps) with its failures and marks. */
    h2Rated: /** @param {string} name @param {Run} x */ (name, x) =>
      loadRow(
        name,
        x,
        '',
        `p99.9 ${x['latencyMs']?.p999}, h2load failed ${x['failed']}${notes(x)}${loadBusyMark(x, c)}`,
      ),
    /**
     * A saturation row: the median round of `key`, its ratio, the req/s of every round.
     * @param {string} name
     * @param {Saturation} summary
     * @param {string} key
     * @param {string} [extra]
     */
    sat(name, summary, key, extra = '') {
      const x = /** @type {Run} */ (summary.median[key]);
      loadRow(
        name,
        x,
        fmt(summary.ratio[key]?.median),
        `${x['reqPerSRounds'].map(Math.round).join('/')}${extra}${notes(x)}`,
      );
    },
    /**
     * A grpc-rate-client row: its normal checks, or (kind hang) its hung ones.
     * @param {string} name
     * @param {Run} x
     * @param {'normal' | 'hang'} [kind]
     */
    rated(name, x, kind = 'normal') {
      const s = x[kind];
      rows.push([
        name,
        fmt(Math.round(s.ratePerS)),
        kind === 'normal' ? protectedCell(x) : '',
        fmt(s.latencyMs.p50),
        fmt(s.latencyMs.p99),
        ...(kind === 'normal' ? cpuCells(x) : ['', '', '', '']),
        '',
        kind === 'normal'
          ? `p99.9 ${s.latencyMs.p999}, ok ${s.ok}/${s.sent}${notes(x)}${loadBusyMark(x, c)}`
          : `max ${s.latencyMs.max}, allowed ${s.ok}/${s.sent}${held(x)}`,
      ]);
    },
  };
}

/** @typedef {ReturnType<typeof tableRows>} TableRows */

/**
 * "; vs (1) 0.64": median over rounds of ours ÷ a bare reference (the price of the RTI call and
 * our code).
 * @param {Saturation} summary
 * @param {string} refKey
 * @param {string} label
 */
export const versus = (summary, refKey, label) =>
  `; vs ${label} ${median(summary.rounds.map(round => round3(round['ours']?.['reqPerS'] / round[refKey]?.['reqPerS'])))}`;
