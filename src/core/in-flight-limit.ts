// A cap on calls in flight at once, taken without waiting: past it the caller does without.
// Bounds what one process asks of a third party (a captcha provider's verify endpoint) however
// many requests arrive together.

export class InFlightLimit {
  private inFlight = 0;

  constructor(private readonly max: number) {}

  /** Takes a slot if one is free; after true, {@link leave} must follow once the call ended. */
  tryEnter(): boolean {
    if (this.inFlight >= this.max) return false;
    this.inFlight += 1;
    return true;
  }

  leave(): void {
    this.inFlight -= 1;
  }
}

/** Captcha verify calls in flight per process (challenge_provider other than `browser`). */
export const MAX_CAPTCHA_VERIFY_CALLS = 64;
