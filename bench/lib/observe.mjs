// @ts-check
// What a load did to the machine, from /proc: a server's RSS and CPU time, and how busy each
// core was.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { clearInterval, setInterval } from 'node:timers';
import { pct } from './stats.mjs';

/**
 * @typedef {object} Observed
 * @property {Record<string, number>} coreBusyPct per core, % busy during the load
 * @property {number} [rssMaxMb] the server's largest RSS sampled
 * @property {number} [serverCpuPct] the server's CPU time ÷ wall time, %
 */

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/**
 * VmRSS of `pid` in MB (one decimal); undefined once it is gone.
 * @param {number} pid
 */
export function rssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

/** User and system CPU seconds of `pid`. @param {number} pid */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Busy and total jiffies per CPU from /proc/stat.
 * @returns {Record<string, { busy: number, total: number }>}
 */
function coreTimes() {
  /** @type {Record<string, { busy: number, total: number }>} */
  const times = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined) continue;
    const values = match[2].trim().split(/\s+/).map(Number);
    const idle = Number(values[3]) + Number(values[4]);
    const total = values.reduce((a, b) => a + b, 0);
    times[match[1]] = { busy: total - idle, total };
  }
  return times;
}

/**
 * Samples RSS of `pid` every 250 ms while `work` runs; returns its result with what was seen
 * (without a pid, only the cores).
 * @template {object} T
 * @param {number | undefined} pid
 * @param {() => Promise<T>} work
 * @returns {Promise<T & Observed>}
 */
export async function observe(pid, work) {
  /** @type {number[]} */
  const samples = [];
  const cpuBefore = pid ? cpuSeconds(pid) : 0;
  const coresBefore = coreTimes();
  const started = Date.now();
  const timer = pid ? setInterval(() => samples.push(rssMb(pid) ?? 0), 250) : undefined;
  try {
    const result = await work();
    const wallS = (Date.now() - started) / 1000;
    const coresAfter = coreTimes();
    /** @type {Record<string, number>} */
    const coreBusyPct = {};
    for (const [cpu, after] of Object.entries(coresAfter)) {
      const before = coresBefore[cpu] ?? { busy: 0, total: 0 };
      coreBusyPct[cpu] = pct((after.busy - before.busy) / (after.total - before.total));
    }
    /** @type {Observed} */
    const observed = {
      coreBusyPct,
      ...(pid
        ? {
            rssMaxMb: Math.max(...samples.filter(Boolean), rssMb(pid) ?? 0),
            serverCpuPct: pct((cpuSeconds(pid) - cpuBefore) / wallS),
          }
        : {}),
    };
    return { ...result, ...observed };
  } finally {
    if (timer) clearInterval(timer);
  }
}
