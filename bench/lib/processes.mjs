// @ts-check
// Child processes of the bench: pinned to cores with taskset, started until they say they are
// ready, load generators run to completion, and none left behind on Ctrl-C or an error.

import { spawn } from 'node:child_process';
import { clearTimeout, setTimeout } from 'node:timers';
import { ROOT } from './paths.mjs';

/** @typedef {[command: string, args: string[]]} Command */

/**
 * @typedef {object} Started a child process that said it is ready
 * @property {string} name
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {Record<string, any>} info its ready line (ports, …)
 * @property {string[]} tail its last 50 lines of output
 * @property {Promise<number | string | null>} exited its exit code or signal
 * @property {() => Promise<number | string | null>} stop SIGTERM, SIGKILL after 15 s
 */

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();

/** @param {string} message */
export const log = message => console.error(`[bench] ${message}`);

/**
 * @param {string} cpu a taskset core list
 * @param {string} command
 * @param {string[]} args
 * @returns {Command}
 */
export function pinned(cpu, command, args) {
  return ['taskset', ['-c', cpu, command, ...args]];
}

/**
 * Starts a process and resolves with its first JSON stdout line that `ready` accepts (or, for a
 * process that does not print JSON, the first line `readyText` accepts; info is then {}).
 * @param {string} name
 * @param {Command} command
 * @param {{ env: NodeJS.ProcessEnv, ready: (line: Record<string, any>) => boolean,
 *   readyText?: (line: string) => boolean, timeoutMs?: number }} options
 * @returns {Promise<Started>}
 */
export function startProcess(name, [command, args], { env, ready, readyText, timeoutMs = 15_000 }) {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  /** @type {string[]} */
  const tail = [];
  /** @param {string} line */
  const keep = line => {
    tail.push(line);
    if (tail.length > 50) tail.shift();
  };
  /** @type {Promise<number | string | null>} */
  const exited = new Promise(resolve =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    /** @param {string} why */
    const fail = why => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${name}: ${why}\n${tail.join('\n')}`));
    };
    let buffered = '';
    let isReady = false;
    child.stdout.on('data', chunk => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        keep(line);
        if (isReady) continue;
        /** @type {Record<string, any> | undefined} */
        const parsed = line.startsWith('{') ? JSON.parse(line) : undefined;
        if (parsed ? ready(parsed) : readyText?.(line)) {
          isReady = true;
          clearTimeout(timer);
          resolve({ name, child, pid: Number(child.pid), info: parsed ?? {}, tail, exited, stop });
        }
      }
    });
    child.stderr.on('data', chunk => keep(String(chunk).trimEnd()));
    let stopping = false;
    void exited.then(code => {
      if (!isReady) fail(`exited (${code}) before it was ready`);
      else if (!stopping)
        log(
          `${name} (pid ${child.pid}) exited by itself (${code}):\n${tail.slice(-10).join('\n')}`,
        );
    });
    const stop = async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    };
  });
}

/**
 * Runs a load generator to completion; resolves with its stdout.
 * @param {Command} command
 * @param {number} timeoutMs killed (and rejected) after this
 * @returns {Promise<string>}
 */
export function runTool([command, args], timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => (stdout += chunk));
    child.stderr.on('data', chunk => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', code => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} exited ${code}:\n${stdout}\n${stderr}`));
    });
  });
}

/** Ctrl-C or SIGTERM: no child outlives the bench. */
export function killChildrenOnExit() {
  /** @param {NodeJS.Signals} signal */
  const shutdown = signal => {
    killChildren();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

function killChildren() {
  for (const child of children) child.kill('SIGKILL');
}

/**
 * The end of every bench script: an error is printed (a KnobError as its message alone, the
 * rest with its stack), what is left killed, exit code 2.
 * @param {Promise<void>} main
 */
export function exitOnFailure(main) {
  main.catch((/** @type {unknown} */ err) => {
    console.error(err instanceof Error && err.name === 'KnobError' ? err.message : err);
    killChildren();
    process.exitCode = 2;
  });
}
