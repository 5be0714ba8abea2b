// Stops calling RTI while it keeps failing: the breaker decides whether a call may go out, and
// learns from how each one ended. A refused call fails open at once (RTI_CIRCUIT_OPEN).

import type { Cancellation } from '../core/cancellation';
import { RtiError, type RtiCheck, type RtiInput, type RtiVerdict } from '../core/rti-port';
import type { CircuitBreaker } from './circuit-breaker';

export class CircuitBreakingRti implements RtiCheck {
  constructor(
    private readonly rti: RtiCheck,
    private readonly breaker: CircuitBreaker,
  ) {}

  async check(
    input: RtiInput,
    timeoutMs: number,
    cancellation?: Cancellation,
  ): Promise<RtiVerdict> {
    if (!this.breaker.tryAcquire()) {
      throw new RtiError('RTI_CIRCUIT_OPEN', 'RTI circuit open after repeated failures');
    }
    try {
      const verdict = await this.rti.check(input, timeoutMs, cancellation);
      this.breaker.succeeded();
      return verdict;
    } catch (err: unknown) {
      if (!(err instanceof RtiError)) {
        this.breaker.abandoned();
      } else if (err.code === 'RTI_ABORTED' || err.code === 'RTI_OVERLOADED') {
        // Says nothing about RTI's health: the caller went away, or we were too busy.
        this.breaker.abandoned();
      } else {
        this.breaker.failed();
      }
      throw err;
    }
  }
}
