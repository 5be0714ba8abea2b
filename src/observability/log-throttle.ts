// Keeps a failing dependency from flooding the logs: at most one line per key and interval,
// carrying how many were suppressed since the last one.

export class LogThrottle {
  private readonly state = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The number of lines suppressed since the last one when this one may be logged; else undefined. */
  admit(key: string): number | undefined {
    const now = this.now();
    const entry = this.state.get(key);
    if (entry && now - entry.lastMs < this.intervalMs) {
      entry.suppressed++;
      return undefined;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.state.set(key, { lastMs: now, suppressed: 0 });
    return suppressed;
  }
}
