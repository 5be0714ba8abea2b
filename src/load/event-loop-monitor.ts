// How responsive this process is: a timer every few milliseconds measures how late it fires
// (the event loop's delay) and keeps the last seconds of samples. The circuit breaker asks it
// whether a timed-out RTI call could have been answered but not read; the admission line uses
// its samples as a clock to fail the checks whose time to wait has run out.

import { performance } from 'node:perf_hooks';

/** Sampling period: fine enough to see a GC pause, cheap enough to be free (100 timers/s). */
export const SAMPLE_INTERVAL_MS = 10;
/** Samples kept: about 10 s, longer than any RTI call can last. */
const CAPACITY = 1024;

export type DelayListener = (delayMs: number) => void;

export class EventLoopMonitor {
  private readonly times = new Float64Array(CAPACITY);
  private readonly delays = new Float64Array(CAPACITY);
  private count = 0;
  private last = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: DelayListener[] = [];

  constructor(private readonly intervalMs = SAMPLE_INTERVAL_MS) {}

  start(): void {
    if (this.timer) return;
    this.last = performance.now();
    // Unref'd: measuring must never keep the process alive.
    this.timer = setInterval(() => this.sample(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Called with every sample's delay, in milliseconds. */
  onSample(listener: DelayListener): void {
    this.listeners.push(listener);
  }

  /**
   * The longest event-loop delay since `sinceMs` (a performance.now() time), including the
   * delay of a sample that is overdue right now (the loop may just have come out of a stall
   * whose sample has not run yet).
   */
  maxDelaySince(sinceMs: number): number {
    const now = performance.now();
    let max = this.timer ? Math.max(0, now - this.last - this.intervalMs) : 0;
    const kept = Math.min(this.count, CAPACITY);
    for (let i = 1; i <= kept; i++) {
      const slot = (this.count - i) % CAPACITY;
      const time = this.times[slot] ?? 0;
      if (time < sinceMs) break;
      max = Math.max(max, this.delays[slot] ?? 0);
    }
    return max;
  }

  private sample(): void {
    const now = performance.now();
    const delay = Math.max(0, now - this.last - this.intervalMs);
    this.last = now;
    const slot = this.count % CAPACITY;
    this.times[slot] = now;
    this.delays[slot] = delay;
    this.count++;
    for (const listener of this.listeners) listener(delay);
  }
}
