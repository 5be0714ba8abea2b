// @ts-check
// Summarises V8 profiles by function, split into our code (dist/, mapped back to src/*.ts through
// the source maps) and everything else grouped by origin (node internals, grpc-js, undici,
// protobufjs, pino, prom-client, GC, ...):
//   .cpuprofile  (node --cpu-prof)              self and inclusive time
//   .heapprofile (bench/alloc-sampler.mjs)      self and inclusive bytes allocated (sampled)
//
//   node bench/cpu-profile-summary.mjs FILE... [--top 15] [--json]
//                                      [--window FROM_US,TO_US --checks N]
//
// With --window (microseconds on the monotonic clock V8's profiles and process.hrtime share),
// only the CPU samples taken within it count, and with --checks the report is in µs of CPU per
// check: bench/profile.mjs passes the measured load's span and the checks answered in it, so
// that start-up and warm-up stay out.

import { readFileSync, existsSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @typedef {object} CallFrame
 * @property {string} functionName
 * @property {string} url
 * @property {number} lineNumber 0-based
 * @property {number} columnNumber 0-based
 */
/**
 * @typedef {object} CpuProfile a .cpuprofile
 * @property {{ id: number, callFrame: CallFrame, children?: number[] }[]} nodes
 * @property {number} startTime µs
 * @property {number[]} samples node ids
 * @property {number[]} timeDeltas µs before each sample
 */
/** @typedef {{ callFrame: CallFrame, selfSize?: number, children?: HeapNode[] }} HeapNode */
/** @typedef {{ head: HeapNode }} HeapProfile a .heapprofile */
/**
 * @typedef {object} FunctionEntry
 * @property {string} origin
 * @property {string} name
 * @property {string} where
 * @property {number} self
 * @property {number} total inclusive
 */
/**
 * @typedef {object} Summary
 * @property {'ms' | 'bytes'} unit
 * @property {number} total
 * @property {Map<string, number>} origins
 * @property {FunctionEntry[]} functions
 */
/** @typedef {{ fromUs: number, toUs: number }} Window */

/**
 * Where a frame comes from: 'ours' for the project's own dist/ or src/ code.
 * @param {string} url
 * @param {string} functionName
 */
export function originOf(url, functionName) {
  if (!url) {
    if (functionName === '(garbage collector)') return 'gc';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (native, unattributed)';
    return 'native/builtin';
  }
  if (url.startsWith('node:')) return 'node internals';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (modules?.[1]) return modules[1];
  if (path.startsWith(join(ROOT, 'dist')) || path.startsWith(join(ROOT, 'src'))) return 'ours';
  if (path.startsWith(join(ROOT, 'bench'))) return 'bench';
  return 'other';
}

/** @type {Map<string, SourceMap | undefined>} */
const sourceMaps = new Map();

/**
 * dist/x.js:line → src/x.ts:line through dist/x.js.map (when present).
 * @param {string} url
 * @param {number} lineNumber
 * @param {number} columnNumber
 */
function sourceLocation(url, lineNumber, columnNumber) {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (!sourceMaps.has(path)) {
    const mapFile = `${path}.map`;
    sourceMaps.set(
      path,
      existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : undefined,
    );
  }
  const map = sourceMaps.get(path);
  const entry = /** @type {Partial<import('node:module').SourceMapping> | undefined} */ (
    map?.findEntry(lineNumber, columnNumber)
  );
  if (entry?.originalSource) {
    const source = entry.originalSource.startsWith('file://')
      ? fileURLToPath(entry.originalSource)
      : join(dirname(path), entry.originalSource);
    return `${relative(ROOT, source)}:${Number(entry.originalLine) + 1}`;
  }
  return `${relative(ROOT, path)}:${lineNumber + 1}`;
}

/** Per-function accumulators keyed by origin, name and (source-mapped) location. */
function functionTable() {
  /** @type {Map<string, FunctionEntry>} */
  const functions = new Map();
  /** @param {CallFrame} callFrame */
  const keyOfFrame = callFrame => {
    const { functionName, url, lineNumber, columnNumber } = callFrame;
    const origin = originOf(url, functionName);
    const name = functionName || '(anonymous)';
    const where =
      origin === 'ours'
        ? sourceLocation(url, lineNumber, columnNumber)
        : url
          ? `${url.replace(/^.*node_modules\//, '')}:${lineNumber + 1}`
          : '';
    const k = `${origin}\u0000${name}\u0000${where}`;
    if (!functions.has(k)) functions.set(k, { origin, name, where, self: 0, total: 0 });
    return k;
  };
  return { functions, keyOfFrame };
}

/**
 * Aggregates one or more .cpuprofile files; self and total in milliseconds. With `window`
 * ({ fromUs, toUs }), only the samples taken within it.
 * @param {CpuProfile[]} profiles
 * @param {Window} [window]
 * @returns {Summary}
 */
export function summarise(profiles, window) {
  /** @param {string} key */
  const entry = key => /** @type {FunctionEntry} */ (functions.get(key));
  const { functions, keyOfFrame } = functionTable();
  const origins = new Map();
  let totalMs = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map(node => [node.id, node]));
    /** @type {Map<number, number>} */
    const parent = new Map();
    for (const node of profile.nodes) {
      for (const child of node.children ?? []) parent.set(child, node.id);
    }
    /** @type {Map<number, string>} */
    const keyOf = new Map();
    /** @param {CpuProfile['nodes'][number]} node */
    const key = node => {
      let k = keyOf.get(node.id);
      if (k === undefined) keyOf.set(node.id, (k = keyOfFrame(node.callFrame)));
      return k;
    };
    const { samples, timeDeltas } = profile;
    let takenAt = profile.startTime;
    for (let i = 0; i < samples.length; i++) {
      takenAt += timeDeltas[i] ?? 0;
      if (window && (takenAt < window.fromUs || takenAt > window.toUs)) continue;
      // timeDeltas[i] is the time before sample i; attribute the next delta to sample i.
      const ms = (timeDeltas[i + 1] ?? timeDeltas[i] ?? 0) / 1000;
      const node = byId.get(Number(samples[i]));
      if (!node) continue;
      totalMs += ms;
      const self = entry(key(node));
      self.self += ms;
      origins.set(self.origin, (origins.get(self.origin) ?? 0) + ms);
      // Inclusive time: once per distinct function on the stack (recursion counted once).
      const seen = new Set();
      for (
        let id = /** @type {number | undefined} */ (node.id);
        id !== undefined;
        id = parent.get(id)
      ) {
        const above = byId.get(id);
        if (!above) break;
        const k = key(above);
        if (seen.has(k)) continue;
        seen.add(k);
        entry(k).total += ms;
      }
    }
  }
  return { unit: 'ms', total: totalMs, origins, functions: [...functions.values()] };
}

/**
 * Aggregates .heapprofile files (sampled allocations); self and total in bytes.
 * @param {HeapProfile[]} profiles
 * @returns {Summary}
 */
export function summariseAllocations(profiles) {
  const { functions, keyOfFrame } = functionTable();
  const origins = new Map();
  let totalBytes = 0;
  for (const profile of profiles) {
    /** @param {HeapNode} node @param {string[]} onStack */
    const visit = (node, onStack) => {
      const k = keyOfFrame(node.callFrame);
      const entry = /** @type {FunctionEntry} */ (functions.get(k));
      const self = node.selfSize ?? 0;
      totalBytes += self;
      entry.self += self;
      origins.set(entry.origin, (origins.get(entry.origin) ?? 0) + self);
      const stack = onStack.includes(k) ? onStack : [...onStack, k];
      // Inclusive: this node's own bytes count for every distinct function above it.
      for (const above of stack) {
        const f = functions.get(above);
        if (f) f.total += self;
      }
      for (const child of node.children ?? []) visit(child, stack);
    };
    visit(profile.head, []);
  }
  return { unit: 'bytes', total: totalBytes, origins, functions: [...functions.values()] };
}

/**
 * Either kind of profile file; `window` applies to CPU profiles (allocations carry no time).
 * @param {string[]} files
 * @param {Window} [window]
 * @returns {Summary}
 */
export function summariseFiles(files, window) {
  const profiles = files.map(file => JSON.parse(readFileSync(file, 'utf8')));
  return profiles[0]?.head ? summariseAllocations(profiles) : summarise(profiles, window);
}

/**
 * Text report: origins, our code by self and inclusive, everything else by self.
 * @param {Summary} summary
 */
export function report(summary, top = 15) {
  const { unit, total, origins, functions } = summary;
  const busy = total - (origins.get('idle') ?? 0);
  /** @param {number} x */
  const amount = x =>
    unit === 'ms' ? `${x.toFixed(0).padStart(7)} ms` : `${(x / 1048576).toFixed(1).padStart(7)} MB`;
  /** @param {number} x */
  const share = x => `${((x / busy) * 100).toFixed(1).padStart(5)}%`;
  const lines = [];
  lines.push(
    unit === 'ms'
      ? `${(total / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (percentages of busy time)`
      : `${(total / 1048576).toFixed(0)} MB allocated (sampled estimate)`,
  );
  lines.push('', `self ${unit === 'ms' ? 'time' : 'allocation'} by origin:`);
  for (const [origin, x] of [...origins].sort((a, b) => b[1] - a[1])) {
    if (origin !== 'idle') lines.push(`  ${amount(x)} ${share(x)}  ${origin}`);
  }
  tables(functions, top, lines, (f, field) => {
    const self = field === 'self' ? '' : `  (self ${share(f.self).trim()})`;
    return `  ${amount(f[field])} ${share(f[field])}  ${f.name}  ${f.where}${self}`;
  });
  return lines.join('\n');
}

/**
 * The functions each table lists: ours by self and by inclusive, the others by self.
 * @param {FunctionEntry[]} functions
 * @param {number} top
 */
function topFunctions(functions, top, othersTop = top) {
  /** @param {'self' | 'total'} field @returns {(a: FunctionEntry, b: FunctionEntry) => number} */
  const by = field => (a, b) => b[field] - a[field];
  const ours = functions.filter(f => f.origin === 'ours');
  return {
    oursBySelf: [...ours].sort(by('self')).slice(0, top),
    oursByTotal: [...ours].sort(by('total')).slice(0, top),
    othersBySelf: functions
      .filter(f => f.origin !== 'ours' && f.origin !== 'idle')
      .sort(by('self'))
      .slice(0, othersTop),
  };
}

/**
 * The three function tables into `lines`, each row written by `row(function, field)`.
 * @param {FunctionEntry[]} functions
 * @param {number} top
 * @param {string[]} lines
 * @param {(f: FunctionEntry, field: 'self' | 'total') => string} row
 */
function tables(functions, top, lines, row) {
  const { oursBySelf, oursByTotal, othersBySelf } = topFunctions(functions, top);
  for (const [title, rows, field] of /** @type {[string, FunctionEntry[], 'self' | 'total'][]} */ ([
    [`our code, top ${top} by self`, oursBySelf, 'self'],
    [`our code, top ${top} by inclusive`, oursByTotal, 'total'],
    [`everything else, top ${top} by self`, othersBySelf, 'self'],
  ])) {
    lines.push('', `${title}:`);
    for (const f of rows) lines.push(row(f, field));
  }
}

/**
 * A CPU summary in µs per check: busy time, by origin, and the top functions of each kind.
 * @param {Summary} summary
 * @param {number} checks
 */
export function perCheckReport(summary, checks, top = 15) {
  const { origins, functions } = summary;
  /** @param {number} ms */
  const usPerCheck = ms => ((ms * 1000) / checks).toFixed(2).padStart(8);
  const busy = summary.total - (origins.get('idle') ?? 0);
  const lines = [
    `${usPerCheck(busy).trim()} µs busy per check (${checks} checks)`,
    '',
    'by origin:',
  ];
  for (const [origin, ms] of [...origins].sort((a, b) => b[1] - a[1])) {
    if (origin !== 'idle') lines.push(`  ${usPerCheck(ms)} µs  ${origin}`);
  }
  tables(
    functions,
    top,
    lines,
    (f, field) => `  ${usPerCheck(f[field])} µs  ${f.name}  ${f.where}`,
  );
  return lines.join('\n');
}

/**
 * The JSON form of the same report.
 * @param {Summary} summary
 */
export function reportJson(summary, top = 15) {
  const { unit, total, origins, functions } = summary;
  return {
    unit,
    total,
    busy: total - (origins.get('idle') ?? 0),
    origins: Object.fromEntries([...origins].sort((a, b) => b[1] - a[1])),
    ...topFunctions(functions, top, 2 * top),
  };
}

const USAGE =
  'usage: node bench/cpu-profile-summary.mjs FILE... [--top N] [--json] [--window FROM_US,TO_US --checks N]';

/** @param {string[]} argv */
function main(argv) {
  if (argv.includes('--help')) {
    console.log(USAGE);
    return;
  }
  /** @param {string} flag */
  const valueOf = flag => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const top = Number(valueOf('--top') ?? 15);
  const checks = valueOf('--checks') === undefined ? undefined : Number(valueOf('--checks'));
  const bounds = valueOf('--window')?.split(',').map(Number);
  const files = argv.filter(
    (arg, i) => !arg.startsWith('--') && !argv[i - 1]?.match(/^--(top|window|checks)$/),
  );
  const badWindow = bounds && (bounds.length !== 2 || bounds.some(b => !Number.isFinite(b)));
  if (files.length === 0 || badWindow || (checks !== undefined && !(checks > 0))) {
    console.error(USAGE);
    process.exit(2);
  }
  const window = bounds && { fromUs: Number(bounds[0]), toUs: Number(bounds[1]) };
  const summary = summariseFiles(files, window);
  if (argv.includes('--json')) console.log(JSON.stringify(reportJson(summary, top), null, 2));
  else if (checks !== undefined && summary.unit === 'ms')
    console.log(perCheckReport(summary, checks, top));
  else console.log(report(summary, top));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
  main(process.argv.slice(2));
