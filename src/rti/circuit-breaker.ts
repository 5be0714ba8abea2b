// Stops calling RTI while it keeps failing: after enough failures among the recent calls the
// circuit opens and checks fail open at once; after a cool-down one probe call decides whether
// it closes again. Transport- and RTI-agnostic: callers report outcomes.

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Share of failures among the recent calls that opens the circuit (0 < ratio <= 1). */
  readonly failureRatio: number;
  /** Calls the window must hold before it can open (and the window's size). */
  readonly minCalls: number;
  /** How long the circuit stays open before a probe is let through. */
  readonly openMs: number;
  readonly now?: () => number;
  readonly onStateChange?: (state: CircuitState, previous: CircuitState) => void;
}

export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private readonly outcomes: boolean[] = [];
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.now = options.now ?? Date.now;
  }

  get current(): CircuitState {
    return this.state;
  }

  /**
   * Whether a call may go to RTI now. In half-open state exactly one probe is admitted; its
   * outcome must be reported with {@link succeeded} or {@link failed} (or {@link abandoned}).
   */
  tryAcquire(): boolean {
    if (this.state === 'open') {
      if (this.now() - this.openedAt < this.options.openMs) return false;
      this.transition('half_open');
    }
    if (this.state === 'half_open') {
      if (this.probing) return false;
      this.probing = true;
    }
    return true;
  }

  succeeded(): void {
    if (this.state === 'half_open') {
      this.probing = false;
      this.reset();
      this.transition('closed');
      return;
    }
    this.record(false);
  }

  failed(): void {
    if (this.state === 'half_open') {
      this.probing = false;
      this.open();
      return;
    }
    this.record(true);
    const enough = this.outcomes.length >= this.options.minCalls;
    if (
      this.state === 'closed' &&
      enough &&
      this.failures / this.outcomes.length >= this.options.failureRatio
    ) {
      this.open();
    }
  }

  /** A call that ended without telling anything about RTI (the caller cancelled it). */
  abandoned(): void {
    if (this.state === 'half_open') this.probing = false;
  }

  private record(failure: boolean): void {
    this.outcomes.push(failure);
    if (failure) this.failures++;
    if (this.outcomes.length > this.options.minCalls && this.outcomes.shift()) this.failures--;
  }

  private open(): void {
    this.openedAt = this.now();
    this.reset();
    this.transition('open');
  }

  private reset(): void {
    this.outcomes.length = 0;
    this.failures = 0;
  }

  private transition(next: CircuitState): void {
    const previous = this.state;
    if (previous === next) return;
    this.state = next;
    this.options.onStateChange?.(next, previous);
  }
}
