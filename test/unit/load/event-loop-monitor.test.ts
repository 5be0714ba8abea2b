import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { install as installFakeTimers, type Clock } from '@sinonjs/fake-timers';
import { EventLoopMonitor } from '../../../src/load/event-loop-monitor';

// On a fake clock, clock.jump(ms) is a stall (time passes, the sampling timer fires once, late)
// and clock.tick(ms) a responsive loop: the real loop's own lag never enters the figures.

const INTERVAL_MS = 5;

describe('EventLoopMonitor', () => {
  let clock: Clock;
  let monitor: EventLoopMonitor;

  beforeEach(() => {
    clock = installFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    monitor = new EventLoopMonitor(INTERVAL_MS);
    monitor.start();
  });
  afterEach(() => {
    monitor.stop();
    clock.uninstall();
  });

  it('sees a stall that happened since a given time, and reports samples to listeners', () => {
    const delays: number[] = [];
    monitor.onSample(d => delays.push(d));
    clock.tick(20);
    const since = performance.now();
    clock.jump(80);
    clock.tick(20);
    assert.equal(monitor.maxDelaySince(since), 80 - INTERVAL_MS);
    assert.equal(Math.max(...delays), 80 - INTERVAL_MS);
  });

  it('does not report a stall from before the given time', () => {
    clock.jump(80);
    clock.tick(20);
    const since = performance.now();
    clock.tick(20);
    assert.equal(monitor.maxDelaySince(since), 0);
    assert.equal(monitor.maxDelaySince(0), 80 - INTERVAL_MS, 'the stall itself was seen');
  });
});

describe('EventLoopMonitor, on the real clock', () => {
  it('counts a stall in progress whose sample has not run yet', () => {
    const monitor = new EventLoopMonitor(INTERVAL_MS);
    monitor.start();
    try {
      const since = performance.now();
      // Busy: the sampling timer cannot run, however fast or slow the machine is.
      const end = since + 60;
      while (performance.now() < end);
      assert.ok(
        monitor.maxDelaySince(since) >= 60 - INTERVAL_MS,
        `saw ${monitor.maxDelaySince(since)} ms`,
      );
    } finally {
      monitor.stop();
    }
  });
});
