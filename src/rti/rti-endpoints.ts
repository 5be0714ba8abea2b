// The RTI endpoints this process talks to, one connection pool and one circuit breaker each,
// shared by every site that uses the endpoint (RTI's health is the endpoint's, not a site's).
// A reload keeps the endpoints still in use, opens new ones and closes the others once their
// calls in flight are done.

import { InFlightCalls, RtiEndpoint, type RtiPoolStats } from './rti-client';
import type { CircuitBreaker } from './circuit-breaker';

export interface EndpointSettings {
  readonly connections: number;
  readonly maxInFlight: number;
  readonly maxResponseBytes: number;
  /** A breaker for a new endpoint; undefined when the circuit breaker is turned off. */
  readonly newBreaker: (url: URL) => CircuitBreaker | undefined;
  /** Told when an endpoint is dropped, with its breaker. */
  readonly onDropped?: (breaker: CircuitBreaker | undefined) => void;
}

export interface EndpointEntry {
  readonly endpoint: RtiEndpoint;
  readonly breaker: CircuitBreaker | undefined;
}

export class RtiEndpoints {
  private readonly entries = new Map<string, EndpointEntry>();
  private readonly calls: InFlightCalls;

  constructor(private readonly settings: EndpointSettings) {
    this.calls = new InFlightCalls(settings.maxInFlight);
  }

  /** The endpoint for a base URL, opened on first use. */
  get(url: URL): EndpointEntry {
    let entry = this.entries.get(url.href);
    if (!entry) {
      const { connections, maxResponseBytes } = this.settings;
      entry = {
        endpoint: new RtiEndpoint(url, { connections, maxResponseBytes, calls: this.calls }),
        breaker: this.settings.newBreaker(url),
      };
      this.entries.set(url.href, entry);
    }
    return entry;
  }

  /** Closes the endpoints not in `urls` (after their calls in flight). */
  async keepOnly(urls: readonly URL[]): Promise<void> {
    const kept = new Set(urls.map(url => url.href));
    const dropped = [...this.entries].filter(([href]) => !kept.has(href));
    for (const [href, entry] of dropped) {
      this.entries.delete(href);
      this.settings.onDropped?.(entry.breaker);
    }
    await Promise.all(dropped.map(([, entry]) => entry.endpoint.close()));
  }

  /** RTI calls in flight, all endpoints together. */
  get inFlight(): number {
    return this.calls.count;
  }

  /** The pools of all endpoints, added up. */
  get poolStats(): RtiPoolStats {
    const total = { connected: 0, free: 0, pending: 0, running: 0 };
    for (const { endpoint } of this.entries.values()) {
      const stats = endpoint.poolStats;
      total.connected += stats.connected;
      total.free += stats.free;
      total.pending += stats.pending;
      total.running += stats.running;
    }
    return total;
  }

  /** Opens connections ahead on every endpoint; the total opened and the first failure. */
  async preconnect(count: number, timeoutMs: number): Promise<{ opened: number; error?: Error }> {
    const results = await Promise.all(
      [...this.entries.values()].map(({ endpoint }) => endpoint.preconnect(count, timeoutMs)),
    );
    const error = results.find(result => result.error)?.error;
    return {
      opened: results.reduce((sum, result) => sum + result.opened, 0),
      ...(error ? { error } : {}),
    };
  }

  async close(): Promise<void> {
    await this.keepOnly([]);
  }
}
