// Overload shedding: a limit on RTI calls in flight that adapts to the event loop's delay, and
// a line for the checks past it. When two samples in a row show the loop delayed beyond the
// target (one alone is a GC pause, not saturation), the limit drops below what is in flight
// (multiplicative decrease); while the loop keeps up it grows back (5 % + 1 a sample: from the
// minimum to 1,000 in about a second). A check past the limit waits, first come first served,
// until a slot frees or its latest start passes; then it fails open. Waiting costs no CPU, and
// a proxy with a bounded number of checks in flight (Envoy's circuit breakers) then sheds the
// excess itself instead of sending it to us faster.

import type { Admission, AdmissionOutcome } from '../core/admission';
import type { Cancellation } from '../core/cancellation';
import type { EventLoopMonitor } from './event-loop-monitor';

export interface AdaptiveAdmissionOptions {
  /** The limit never exceeds this (rti_max_in_flight). */
  readonly maxLimit: number;
  /** Event-loop delay above which the process counts as saturated, milliseconds. */
  readonly targetDelayMs: number;
  readonly now?: () => number;
}

/** The limit never drops below this: a lagging process still protects some checks. */
export const MIN_LIMIT = 10;
const DECREASE = 0.9;
const INCREASE = 1.05;

interface Waiter {
  readonly latestStartMs: number;
  settle: ((outcome: AdmissionOutcome) => void) | undefined;
}

export class AdaptiveAdmission implements Admission {
  private inFlight = 0;
  private current: number;
  private lastDelayMs = 0;
  private readonly line: Waiter[] = [];
  private readonly now: () => number;

  constructor(
    private readonly options: AdaptiveAdmissionOptions,
    monitor: Pick<EventLoopMonitor, 'onSample'>,
  ) {
    this.current = options.maxLimit;
    this.now = options.now ?? Date.now;
    monitor.onSample(delayMs => this.adapt(delayMs));
  }

  /** RTI calls admitted at once now. */
  get limit(): number {
    return Math.floor(this.current);
  }

  /** Checks waiting in line for a slot now. */
  get waiting(): number {
    return this.line.filter(waiter => waiter.settle).length;
  }

  enter(
    latestStartMs: number,
    cancellation?: Cancellation,
  ): AdmissionOutcome | Promise<AdmissionOutcome> {
    if (this.line.length > 0) this.admitWaiting();
    if (this.line.length === 0 && this.inFlight < this.current) {
      this.inFlight++;
      return 'admitted';
    }
    if (this.now() >= latestStartMs) return 'overloaded';
    return new Promise(resolve => {
      const waiter: Waiter = { latestStartMs, settle: resolve };
      this.line.push(waiter);
      cancellation?.onCancel(() => settle(waiter, 'cancelled'));
    });
  }

  leave(): void {
    this.inFlight--;
    this.admitWaiting();
  }

  /** Admits from the head of the line while there is room; drops those out of time. */
  private admitWaiting(): void {
    const now = this.now();
    while (this.line.length > 0 && this.inFlight < this.current) {
      const waiter = this.line.shift() as Waiter;
      if (!waiter.settle) continue;
      if (now >= waiter.latestStartMs) {
        settle(waiter, 'overloaded');
        continue;
      }
      this.inFlight++;
      settle(waiter, 'admitted');
    }
  }

  private adapt(delayMs: number): void {
    const { maxLimit, targetDelayMs } = this.options;
    const saturated = delayMs > targetDelayMs && this.lastDelayMs > targetDelayMs;
    this.lastDelayMs = delayMs;
    if (saturated) {
      this.current = Math.max(MIN_LIMIT, Math.min(this.current, this.inFlight) * DECREASE);
    } else if (delayMs <= targetDelayMs) {
      this.current = Math.min(maxLimit, this.current * INCREASE + 1);
    }
    this.admitWaiting();
    this.expireWaiting();
  }

  /** Fails the checks whose latest start has passed (the line is not ordered by it). */
  private expireWaiting(): void {
    if (this.line.length === 0) return;
    const now = this.now();
    let kept = 0;
    for (const waiter of this.line) {
      if (waiter.settle && now >= waiter.latestStartMs) settle(waiter, 'overloaded');
      if (waiter.settle) this.line[kept++] = waiter;
    }
    this.line.length = kept;
  }
}

function settle(waiter: Waiter, outcome: AdmissionOutcome): void {
  const { settle: resolve } = waiter;
  waiter.settle = undefined;
  resolve?.(outcome);
}
