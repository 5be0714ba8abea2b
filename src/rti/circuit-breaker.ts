// Stops calling RTI while it keeps failing. Closed: outcomes are counted over a time window
// (slices of windowMs / 10), and the circuit opens when, with at least minCalls in the window,
// failureRatio of them failed. Open: every call is refused for openMs. Half-open: up to
// `probes` calls go through at once; the circuit closes, on a fresh window, once that many have
// succeeded, and opens again on any failure. Transport- and RTI-agnostic: callers report
// outcomes, and decide themselves which failures are evidence against RTI.

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Share of failures in the window that opens the circuit (0 < ratio <= 1). */
  readonly failureRatio: number;
  /** Length of the window outcomes are counted over. */
  readonly windowMs: number;
  /** Calls the window must hold before it can open. */
  readonly minCalls: number;
  /** How long the circuit stays open before probes are let through. */
  readonly openMs: number;
  /** Probe calls admitted at once when half-open, and successes needed to close. */
  readonly probes: number;
  readonly now?: () => number;
  readonly onStateChange?: (state: CircuitState, previous: CircuitState) => void;
}

/** A call admitted by {@link CircuitBreaker.tryAcquire}: the state generation it was given in. */
export type Permit = number;

const SLICES = 10;

export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private readonly window: SlidingCounts;
  private openedAt = 0;
  private probesInFlight = 0;
  private probeSuccesses = 0;
  private generation = 0;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.now = options.now ?? Date.now;
    this.window = new SlidingCounts(Math.max(1, options.windowMs / SLICES), SLICES);
  }

  get current(): CircuitState {
    return this.state;
  }

  /**
   * Whether a call may go to RTI now: a permit, or undefined when refused. When half-open, at
   * most `probes` calls are admitted at once. Every permit's outcome must be reported with
   * {@link succeeded}, {@link failed} or {@link abandoned}; outcomes of permits given before
   * the last state change are ignored.
   */
  tryAcquire(): Permit | undefined {
    if (this.state === 'open') {
      if (this.now() - this.openedAt < this.options.openMs) return undefined;
      this.probesInFlight = 0;
      this.probeSuccesses = 0;
      this.transition('half_open');
    }
    if (this.state === 'half_open') {
      if (this.probesInFlight + this.probeSuccesses >= this.options.probes) return undefined;
      this.probesInFlight++;
    }
    return this.generation;
  }

  succeeded(permit: Permit): void {
    if (permit !== this.generation) return;
    if (this.state === 'half_open') {
      this.probesInFlight--;
      if (++this.probeSuccesses >= this.options.probes) {
        this.window.clear();
        this.transition('closed');
      }
      return;
    }
    if (this.state === 'closed') this.window.add(this.now(), false);
  }

  failed(permit: Permit): void {
    if (permit !== this.generation) return;
    if (this.state === 'half_open') {
      this.open();
      return;
    }
    const now = this.now();
    this.window.add(now, true);
    const { calls, failures } = this.window.totals(now);
    if (calls >= this.options.minCalls && failures / calls >= this.options.failureRatio) {
      this.open();
    }
  }

  /** A call that ended without telling anything about RTI (cancelled, or we were too slow). */
  abandoned(permit: Permit): void {
    if (permit === this.generation && this.state === 'half_open') this.probesInFlight--;
  }

  private open(): void {
    this.openedAt = this.now();
    this.window.clear();
    this.transition('open');
  }

  private transition(next: CircuitState): void {
    const previous = this.state;
    if (previous === next) return;
    this.state = next;
    this.generation++;
    this.options.onStateChange?.(next, previous);
  }
}

/** Calls and failures over the last `slices` slices of `sliceMs`, one slot per slice. */
class SlidingCounts {
  private readonly epochs: Float64Array;
  private readonly calls: Uint32Array;
  private readonly failures: Uint32Array;

  constructor(
    private readonly sliceMs: number,
    private readonly slices: number,
  ) {
    this.epochs = new Float64Array(slices).fill(-1);
    this.calls = new Uint32Array(slices);
    this.failures = new Uint32Array(slices);
  }

  add(nowMs: number, failure: boolean): void {
    const epoch = Math.floor(nowMs / this.sliceMs);
    const slot = epoch % this.slices;
    if (this.epochs[slot] !== epoch) {
      this.epochs[slot] = epoch;
      this.calls[slot] = 0;
      this.failures[slot] = 0;
    }
    this.calls[slot] = (this.calls[slot] ?? 0) + 1;
    if (failure) this.failures[slot] = (this.failures[slot] ?? 0) + 1;
  }

  totals(nowMs: number): { calls: number; failures: number } {
    const oldest = Math.floor(nowMs / this.sliceMs) - this.slices + 1;
    let calls = 0;
    let failures = 0;
    for (let slot = 0; slot < this.slices; slot++) {
      if ((this.epochs[slot] ?? -1) < oldest) continue;
      calls += this.calls[slot] ?? 0;
      failures += this.failures[slot] ?? 0;
    }
    return { calls, failures };
  }

  clear(): void {
    this.epochs.fill(-1);
  }
}
