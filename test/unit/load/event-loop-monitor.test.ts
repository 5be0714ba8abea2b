import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventLoopMonitor } from '../../../src/load/event-loop-monitor';

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('EventLoopMonitor', () => {
  const monitors: EventLoopMonitor[] = [];
  const started = (): EventLoopMonitor => {
    const monitor = new EventLoopMonitor(5);
    monitor.start();
    monitors.push(monitor);
    return monitor;
  };
  afterEach(() => monitors.splice(0).forEach(m => m.stop()));

  it('sees a stall that happened since a given time, and reports samples to listeners', async () => {
    const monitor = started();
    const delays: number[] = [];
    monitor.onSample(d => delays.push(d));
    await sleep(20);
    const since = performance.now();
    busyFor(80);
    await sleep(20);
    assert.ok(monitor.maxDelaySince(since) >= 60, `saw ${monitor.maxDelaySince(since)} ms`);
    assert.ok(Math.max(...delays) >= 60);
  });

  it('does not report a stall from before the given time', async () => {
    const monitor = started();
    busyFor(80);
    await sleep(20);
    const since = performance.now();
    await sleep(20);
    assert.ok(monitor.maxDelaySince(since) < 40, `saw ${monitor.maxDelaySince(since)} ms`);
  });

  it('counts a stall in progress whose sample has not run yet', () => {
    const monitor = started();
    const since = performance.now();
    busyFor(60);
    assert.ok(monitor.maxDelaySince(since) >= 50, `saw ${monitor.maxDelaySince(since)} ms`);
  });
});
