// Overload shedding: at most `limit` RTI calls in flight (one per RTI connection, so that every
// call admitted goes on the wire at once instead of queueing unseen in the pool), and a line,
// first come first served, for the checks past it. A check waits while it can still get a
// verdict in time; once its latest start has passed it fails open. Waiting costs no CPU, and
// refusing late rather than at once keeps a proxy with a bounded number of checks in flight
// (Envoy's circuit breakers) from sending the refused checks straight back: it fails the excess
// open itself. Past the CPU (the event loop late by FLOOD_LAG_MS or more, sample after sample for
// FLOOD_AFTER_MS), checks wait unseen in the sockets instead: then a check fails open at once when
// that lag leaves its RTI call no time.

import type { Admission, AdmissionOutcome } from '../core/admission';
import type { Cancellation } from '../core/cancellation';
import type { EventLoopMonitor } from './event-loop-monitor';

/**
 * An event-loop delay from which the process may be flooded: past its CPU, checks wait unseen in
 * the sockets before they are read. A flood answers remembered bots without RTI (which would most
 * likely block them again) and sheds checks whose RTI answer could not be read in time.
 */
export const FLOOD_LAG_MS = 20;
/**
 * How long, and over how many samples in a row, the loop must stay that late: a flood keeps it
 * late for seconds; stalls (GC pauses, a few collections in a row, the process descheduled on a
 * busy machine) are over sooner.
 */
export const FLOOD_AFTER_MS = 500;
export const FLOOD_AFTER_SAMPLES = 5;

export interface AdmissionLineOptions {
  /** RTI calls in flight at most. */
  readonly limit: number;
  readonly now?: () => number;
}

interface Waiter {
  readonly latestStartMs: number;
  settle: ((outcome: AdmissionOutcome) => void) | undefined;
}

export class AdmissionLine implements Admission {
  private inFlight = 0;
  private readonly line: Waiter[] = [];
  /** Waiters in `line` not yet settled (the line also holds settled ones until they are passed). */
  private unsettled = 0;
  /** The samples in a row FLOOD_LAG_MS late or more: since when, how many, the least delay. */
  private lateRun: { sinceMs: number; samples: number; leastMs: number } | undefined;
  /** In a flood, how late the loop has run throughout it at least, ms; else 0. */
  private lagMs = 0;
  private readonly now: () => number;

  constructor(
    private readonly options: AdmissionLineOptions,
    monitor: Pick<EventLoopMonitor, 'onSample'>,
  ) {
    this.now = options.now ?? Date.now;
    monitor.onSample(delayMs => {
      this.sampled(delayMs);
      this.tick();
    });
  }

  /** Checks waiting in line for a slot now. */
  get waiting(): number {
    return this.unsettled;
  }

  get flooded(): boolean {
    return this.unsettled > 0 || this.lagMs > 0;
  }

  enter(
    latestStartMs: number,
    cancellation?: Cancellation,
  ): AdmissionOutcome | Promise<AdmissionOutcome> {
    // Past its CPU, the process reads RTI's answer at least as late as its timers fire: a call
    // that could not start before its latest start, lag included, would be answered too late.
    if (this.lagMs > 0 && this.now() + this.lagMs >= latestStartMs) return 'overloaded';
    if (this.line.length > 0) this.admitWaiting();
    if (this.line.length === 0 && this.inFlight < this.options.limit) {
      this.inFlight++;
      return 'admitted';
    }
    if (this.now() >= latestStartMs) return 'overloaded';
    return new Promise(resolve => {
      const waiter: Waiter = { latestStartMs, settle: resolve };
      this.line.push(waiter);
      this.unsettled++;
      cancellation?.onCancel(() => this.settle(waiter, 'cancelled'));
    });
  }

  leave(): void {
    this.inFlight--;
    this.admitWaiting();
  }

  /** Follows the loop's lateness: a flood once it has lasted FLOOD_AFTER_MS and _SAMPLES. */
  private sampled(delayMs: number): void {
    if (delayMs < FLOOD_LAG_MS) {
      this.lateRun = undefined;
      this.lagMs = 0;
      return;
    }
    const now = this.now();
    const run = (this.lateRun ??= { sinceMs: now, samples: 0, leastMs: delayMs });
    run.samples++;
    run.leastMs = Math.min(run.leastMs, delayMs);
    const lasted = run.samples >= FLOOD_AFTER_SAMPLES && now - run.sinceMs >= FLOOD_AFTER_MS;
    this.lagMs = lasted ? run.leastMs : 0;
  }

  /** Admits from the head of the line while there is room; drops those out of time. */
  private admitWaiting(): void {
    const now = this.now();
    while (this.line.length > 0 && this.inFlight < this.options.limit) {
      const waiter = this.line.shift() as Waiter;
      if (!waiter.settle) continue;
      if (now >= waiter.latestStartMs) {
        this.settle(waiter, 'overloaded');
        continue;
      }
      this.inFlight++;
      this.settle(waiter, 'admitted');
    }
  }

  /** Every monitor sample (10 ms): fails the checks whose latest start has passed. */
  private tick(): void {
    const now = this.now();
    this.admitWaiting();
    if (this.line.length === 0) return;
    let kept = 0;
    for (const waiter of this.line) {
      if (waiter.settle && now >= waiter.latestStartMs) this.settle(waiter, 'overloaded');
      if (waiter.settle) this.line[kept++] = waiter;
    }
    this.line.length = kept;
  }

  /** Ends a waiter's wait once: a cancelled check may also be reached by the tick or a leave. */
  private settle(waiter: Waiter, outcome: AdmissionOutcome): void {
    const { settle: resolve } = waiter;
    if (resolve === undefined) return;
    waiter.settle = undefined;
    this.unsettled--;
    resolve(outcome);
  }
}
