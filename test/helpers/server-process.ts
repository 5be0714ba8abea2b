// Runs the built server (dist/main.js, the package's bin) as a child process, the way an
// operator does, and collects what it prints.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const MAIN = join(__dirname, '..', '..', '..', 'dist', 'main.js');

export interface ServerProcess {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  /**
   * Sends `signal` and resolves with the exit code (or signal name); a process still running
   * after `timeoutMs` is killed and the promise rejects, so a hung shutdown fails its test
   * instead of keeping mocha (and CI) waiting on its pipes.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
  /** Resolves once a stdout line matches; rejects when the process exits first. */
  waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

/** Environment with nothing of the developer's settings (CHEQ_* and the old names) leaking into a test. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      value !== undefined &&
      !/^(CHEQ_|GRPC_|HTTP_|METRICS_|SHUTDOWN_|HOST$|WORKERS$|CONFIG_FILE$|LOG_LEVEL$)/.test(key)
    ) {
      env[key] = value;
    }
  }
  return { ...env, ...extra };
}

const running = new Set<ChildProcess>();

/**
 * Kills the processes a test left running and says how many: they would keep mocha, which
 * waits for open handles, from ever exiting (a root hook calls this after all tests).
 */
export function killLeftoverProcesses(): number {
  const left = running.size;
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  return left;
}

function tail(text: string, lines = 20): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Starts the bin, or with `nodeArgs` (e.g. `-e script`) another node program. */
export function startServerProcess(
  args: string[],
  env: Record<string, string>,
  nodeArgs: readonly string[] = [MAIN],
): ServerProcess {
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: ServerProcess = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise(resolve =>
      child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
    ),
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<'hung'>(resolve => {
        timer = setTimeout(() => resolve('hung'), timeoutMs);
      });
      const outcome = await Promise.race([proc.exited, hung]);
      clearTimeout(timer);
      if (outcome !== 'hung') return outcome;
      child.kill('SIGKILL');
      throw new Error(
        `still running ${timeoutMs} ms after ${signal}:\n${tail(proc.stdout)}\n${tail(proc.stderr)}`,
      );
    },
    // Long enough for the warm-up before ready (at most 5 s) on a busy machine.
    waitForLine(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            finish(
              new Error(`no matching line in ${timeoutMs} ms:\n${proc.stdout}\n${proc.stderr}`),
            ),
          timeoutMs,
        );
        const check = (): void => {
          const complete = proc.stdout.split('\n').slice(0, -1);
          for (const line of complete) {
            if (!line.startsWith('{')) continue;
            const parsed = JSON.parse(line) as Record<string, unknown>;
            if (match(parsed)) return finish(undefined, parsed);
          }
        };
        const onExit = (): void =>
          finish(new Error(`exited before the line:\n${proc.stdout}\n${proc.stderr}`));
        function finish(err?: Error, line?: Record<string, unknown>): void {
          clearTimeout(timer);
          child.stdout?.off('data', check);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolve(line!);
        }
        child.stdout?.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
  };
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.stdout?.on('data', (chunk: Buffer) => (proc.stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (proc.stderr += chunk.toString()));
  return proc;
}

/** Runs the bin to completion. */
export function runMain(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', code => resolve({ code, stdout, stderr }));
  });
}
