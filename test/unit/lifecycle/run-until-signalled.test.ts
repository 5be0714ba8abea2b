// The one run of a server process: signals in, exit code out, driven by a fake process.

import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import {
  runUntilSignalled,
  type Running,
  type StopSignal,
} from '../../../src/lifecycle/run-until-signalled';
import { createLogger } from '../../../src/observability/logger';

/** A mode whose ready and stop the test settles, recording what the run asked of it. */
class FakeMode implements Running {
  readonly calls: string[] = [];
  readonly ready: Promise<void>;
  markReady: () => void = () => undefined;
  finishStop: (err?: Error) => void = () => undefined;

  constructor() {
    this.ready = new Promise(resolve => (this.markReady = resolve));
  }

  announce(): void {
    this.calls.push('announce');
  }
  reload(): void {
    this.calls.push('reload');
  }
  stop(signal: StopSignal): Promise<void> {
    this.calls.push(`stop ${signal}`);
    return new Promise((resolve, reject) => {
      this.finishStop = err => (err ? reject(err) : resolve());
    });
  }
}

function setUp(options: { stopSignals?: readonly StopSignal[] } = {}) {
  const events = new EventEmitter();
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  let code: number | undefined;
  const run = (start: () => Promise<Running>): Promise<number> => {
    const exited = runUntilSignalled(start, {
      log,
      events,
      ...options,
    });
    void exited.then(c => (code = c));
    return exited;
  };
  const messages = (): unknown[] => lines.map(line => line['msg']);
  return { events, lines, messages, run, exitCode: () => code };
}

describe('runUntilSignalled', () => {
  it('stops gracefully on SIGTERM and resolves 0 only once the stop is done', async () => {
    const { events, run, exitCode } = setUp();
    const mode = new FakeMode();
    const exited = run(() => Promise.resolve(mode));
    await turn();
    events.emit('SIGTERM');
    assert.deepEqual(mode.calls, ['stop SIGTERM']);
    await turn();
    assert.equal(exitCode(), undefined, 'still stopping');
    mode.finishStop();
    assert.equal(await exited, 0);
  });

  it('ends at once with 1 on a second stop signal during the stop', async () => {
    const { events, run, lines } = setUp();
    const mode = new FakeMode();
    const exited = run(() => Promise.resolve(mode));
    await turn();
    events.emit('SIGINT');
    events.emit('SIGTERM');
    assert.equal(await exited, 1);
    assert.deepEqual(mode.calls, ['stop SIGINT'], 'one stop only');
    const last = lines.at(-1);
    assert.equal(last?.['msg'], 'second signal: exiting now');
    assert.equal(last?.['signal'], 'SIGTERM');
    assert.equal(last?.['level'], 'warn');
  });

  it("leaves a second stop signal to the mode's stopNow, and waits for the stop", async () => {
    const { events, run, exitCode } = setUp();
    const mode = new FakeMode();
    const stopNow: StopSignal[] = [];
    const exited = run(() =>
      Promise.resolve(Object.assign(mode, { stopNow: (s: StopSignal) => stopNow.push(s) })),
    );
    await turn();
    events.emit('SIGTERM');
    events.emit('SIGINT');
    assert.deepEqual(stopNow, ['SIGINT']);
    await turn();
    assert.equal(exitCode(), undefined, 'still stopping');
    mode.finishStop();
    assert.equal(await exited, 0);
  });

  it('ignores a signal it does not stop on (a cluster worker leaves Ctrl-C to its primary)', async () => {
    const { events, run } = setUp({ stopSignals: ['SIGTERM'] });
    const mode = new FakeMode();
    const exited = run(() => Promise.resolve(mode));
    await turn();
    events.emit('SIGINT');
    assert.deepEqual(mode.calls, []);
    events.emit('SIGTERM');
    mode.finishStop();
    assert.equal(await exited, 0);
    assert.deepEqual(mode.calls, ['stop SIGTERM']);
  });

  it('announces once ready, and reloads on SIGHUP', async () => {
    const { events, run } = setUp();
    const mode = new FakeMode();
    const exited = run(() => Promise.resolve(mode));
    await turn();
    mode.markReady();
    await turn();
    events.emit('SIGHUP');
    events.emit('SIGTERM');
    mode.finishStop();
    assert.equal(await exited, 0);
    assert.deepEqual(mode.calls, ['announce', 'reload', 'stop SIGTERM']);
  });

  it('does not announce when a stop signal came before ready', async () => {
    const { events, run } = setUp();
    const mode = new FakeMode();
    const exited = run(() => Promise.resolve(mode));
    await turn();
    events.emit('SIGTERM');
    mode.markReady();
    await turn();
    mode.finishStop();
    assert.equal(await exited, 0);
    assert.deepEqual(mode.calls, ['stop SIGTERM']);
  });

  it('resolves 1 when the mode cannot start, and when its stop fails, saying why', async () => {
    const failedStart = setUp();
    const notStarted = failedStart.run(() => Promise.reject(new Error('EADDRINUSE')));
    assert.equal(await notStarted, 1);
    assert.deepEqual(failedStart.messages(), ['cannot start']);

    const failedStop = setUp();
    const mode = new FakeMode();
    const exited = failedStop.run(() => Promise.resolve(mode));
    await turn();
    failedStop.events.emit('SIGTERM');
    mode.finishStop(new Error('close failed'));
    assert.equal(await exited, 1);
    assert.deepEqual(failedStop.messages(), ['shutdown failed']);
  });

  it('resolves 1 on an uncaught exception, and only logs an unhandled rejection', async () => {
    const { events, run, messages, exitCode } = setUp();
    const exited = run(() => Promise.resolve(new FakeMode()));
    await turn();
    events.emit('unhandledRejection', new Error('stray'));
    await turn();
    assert.equal(exitCode(), undefined, 'still running');
    events.emit('uncaughtException', new Error('bug'));
    assert.equal(await exited, 1);
    assert.deepEqual(messages(), ['unhandled promise rejection', 'uncaught exception: exiting']);
  });
  it('stops gracefully on a stop signal that comes while it is still starting', async () => {
    const { events, run } = setUp();
    const mode = new FakeMode();
    let started: (mode: Running) => void = () => undefined;
    const exited = run(() => new Promise(resolve => (started = resolve)));
    events.emit('SIGTERM');
    events.emit('SIGHUP');
    started(mode);
    await turn();
    mode.markReady();
    await turn();
    mode.finishStop();
    assert.equal(await exited, 0);
    assert.deepEqual(mode.calls, ['stop SIGTERM'], 'no reload, no announce');
  });

  it('does not reload on SIGHUP while starting or stopping', async () => {
    const { events, run, messages } = setUp();
    const mode = new FakeMode();
    let started: (mode: Running) => void = () => undefined;
    const exited = run(() => new Promise(resolve => (started = resolve)));
    events.emit('SIGHUP');
    started(mode);
    await turn();
    events.emit('SIGTERM');
    events.emit('SIGHUP');
    mode.finishStop();
    assert.equal(await exited, 0);
    assert.deepEqual(mode.calls, ['stop SIGTERM']);
    assert.deepEqual(messages(), [
      'not reloading: starting or stopping',
      'not reloading: starting or stopping',
    ]);
  });

  it('resolves 1 when it cannot become ready', async () => {
    const { run, messages } = setUp();
    const mode = Object.assign(new FakeMode(), {
      ready: Promise.reject(new Error('markServing failed')),
    });
    assert.equal(await run(() => Promise.resolve(mode)), 1);
    assert.deepEqual(messages(), ['cannot become ready']);
  });
});
