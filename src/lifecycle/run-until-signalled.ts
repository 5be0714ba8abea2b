// One run of a server process in any of its modes (one process, cluster worker, cluster
// primary): start it, tell once it serves, reload it on SIGHUP, stop it gracefully on SIGTERM or
// SIGINT, and resolve with the exit code. It never exits: main does, with that code.

import type { Logger } from '../observability/logger';

export type StopSignal = 'SIGTERM' | 'SIGINT';

/** A process mode while it runs: what the signals act on. */
export interface Running {
  /** Resolves once it serves (warm; a cluster primary: every worker); may not when stopped. */
  readonly ready: Promise<void>;
  /** Says that it serves; not called when a stop signal came first. */
  announce?(): void;
  /** SIGHUP: read the configuration again. */
  reload(): void;
  /** The graceful stop the first stop signal starts; resolves once stopped. */
  stop(signal: StopSignal): Promise<void>;
  /** A second stop signal during the stop; without this, the run ends at once with exit 1. */
  stopNow?(signal: StopSignal): void;
}

/** What a run listens to: `process`, or a fake in tests. */
export interface ProcessEvents {
  on(event: StopSignal | 'SIGHUP', listener: () => void): unknown;
  on(event: 'uncaughtException', listener: (err: Error) => void): unknown;
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
}

export interface RunOptions {
  readonly log: Logger;
  /** The signals that stop it (default both); the other of SIGTERM and SIGINT is ignored. */
  readonly stopSignals?: readonly StopSignal[];
  readonly events?: ProcessEvents;
}

const EXIT_OK = 0;
const EXIT_FAILURE = 1;

/**
 * Starts a mode with `start` and runs it until it has stopped; resolves with the exit code once
 * the log is flushed: 0 after a graceful stop, 1 when it could not start, the stop failed, a
 * second stop signal cut it short or an exception went uncaught.
 */
export function runUntilSignalled(
  start: () => Promise<Running>,
  { log, stopSignals = ['SIGTERM', 'SIGINT'], events = process }: RunOptions,
): Promise<number> {
  return new Promise(resolve => {
    let ended = false;
    const end = (code: number): void => {
      if (ended) return;
      ended = true;
      log.flush(() => resolve(code));
    };
    let running: Running | undefined;
    /** The stop signal that started the stop, even while still starting. */
    let stopping: StopSignal | undefined;
    const stop = (mode: Running, signal: StopSignal): void => {
      mode.stop(signal).then(
        () => end(EXIT_OK),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          end(EXIT_FAILURE);
        },
      );
    };
    const onStopSignal = (signal: StopSignal): void => {
      if (!stopSignals.includes(signal)) return;
      if (stopping && running?.stopNow) {
        running.stopNow(signal);
        return;
      }
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        end(EXIT_FAILURE);
        return;
      }
      stopping = signal;
      // Still starting: the stop follows once it has started.
      if (running) stop(running, signal);
    };
    // Listened to before starting, so that no signal meets Node's default (to end the process
    // at once): a stop signal while starting stops gracefully once started; a reload then, or
    // during the stop, has nothing to do (a starting process reads the configuration anyway).
    events.on('SIGTERM', () => onStopSignal('SIGTERM'));
    events.on('SIGINT', () => onStopSignal('SIGINT'));
    events.on('SIGHUP', () => {
      if (running && !stopping) running.reload();
      else log.info({ signal: 'SIGHUP' }, 'not reloading: starting or stopping');
    });
    // A stray rejection is logged, not fatal; an uncaught exception leaves us unknown: exit.
    events.on('unhandledRejection', reason => {
      log.error({ err: reason }, 'unhandled promise rejection');
    });
    events.on('uncaughtException', err => {
      log.fatal({ err }, 'uncaught exception: exiting');
      end(EXIT_FAILURE);
    });
    start().then(
      mode => {
        running = mode;
        if (stopping) {
          stop(mode, stopping);
          return;
        }
        mode.ready.then(
          () => {
            if (!stopping) mode.announce?.();
          },
          (err: unknown) => {
            log.fatal({ err }, 'cannot become ready');
            end(EXIT_FAILURE);
          },
        );
      },
      (err: unknown) => {
        log.fatal({ err }, 'cannot start');
        end(EXIT_FAILURE);
      },
    );
  });
}
