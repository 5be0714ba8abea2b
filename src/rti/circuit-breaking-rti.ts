// Stops calling RTI while it keeps failing: the breaker decides whether a call may go out, and
// learns from how each one ended. A refused call fails open at once (rti_circuit_open).
// Only evidence against RTI counts: connection errors, HTTP errors other than a refusal of one
// request's content, bad answers, and timeouts during which this process stayed responsive. A timeout while our own event loop lagged
// (a burst, a GC pause, cold code) may hide an answer that arrived but was not read in time.

import { performance } from 'node:perf_hooks';
import type { Cancellation } from '../core/cancellation';
import { RtiError, type RtiCheck, type RtiInput, type RtiVerdict } from '../core/rti-port';
import type { CircuitBreaker } from './circuit-breaker';

/** Share of the RTI budget our event loop may have been delayed for a timeout to still count. */
export const LAG_TOLERANCE_SHARE = 0.25;

/**
 * RTI statuses that refuse one request's content (malformed, too large, unprocessable). The
 * visitor shapes that content (URL, headers), so counting them would let ~20 crafted requests
 * open the circuit for everyone. Every other status still counts: 401/403 (our key refused) and
 * 404 (our endpoint) refuse every request alike, 408 and 429 are RTI shedding load, 5xx is RTI.
 */
export const REQUEST_SHAPED_STATUSES: ReadonlySet<number> = new Set([400, 413, 414, 422, 431]);

/**
 * The one error of every check the open circuit skips: made once, since capturing a stack per
 * check cost about 5 % of the CPU of a flood answered from the verdict memory. It is only read.
 */
const CIRCUIT_OPEN = new RtiError('rti_circuit_open', 'RTI circuit open after repeated failures');

export interface Responsiveness {
  /** Longest event-loop delay since `sinceMs` (performance.now() time), milliseconds. */
  maxDelaySince(sinceMs: number): number;
}

export class CircuitBreakingRti implements RtiCheck {
  constructor(
    private readonly rti: RtiCheck,
    private readonly breaker: CircuitBreaker,
    private readonly loop: Responsiveness,
    /** Told of each timeout not held against RTI. */
    private readonly onLaggingTimeout: () => void = () => undefined,
  ) {}

  async check(
    input: RtiInput,
    timeoutMs: number,
    cancellation?: Cancellation,
  ): Promise<RtiVerdict> {
    const permit = this.breaker.tryAcquire();
    if (permit === undefined) {
      throw CIRCUIT_OPEN;
    }
    const started = performance.now();
    try {
      const verdict = await this.rti.check(input, timeoutMs, cancellation);
      this.breaker.succeeded(permit);
      return verdict;
    } catch (err: unknown) {
      if (!(err instanceof RtiError)) {
        this.breaker.abandoned(permit);
      } else if (
        err.code === 'cancelled' ||
        err.code === 'rti_overloaded' ||
        (err.statusCode !== undefined && REQUEST_SHAPED_STATUSES.has(err.statusCode))
      ) {
        // Says nothing about RTI's health: the caller went away, we were too busy, or RTI
        // refused this one request (the check still fails open).
        this.breaker.abandoned(permit);
      } else if (
        err.code === 'rti_timeout' &&
        this.loop.maxDelaySince(started) > timeoutMs * LAG_TOLERANCE_SHARE
      ) {
        this.breaker.abandoned(permit);
        this.onLaggingTimeout();
      } else {
        this.breaker.failed(permit);
      }
      throw err;
    }
  }
}
