// The verdict memory's sharing through Redis (redis-sync.ts): whether it is up, the changes sent,
// received, dropped and refused, how late peers' changes arrive, and how often it was lost.
// Registered only when redis_url is set.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const SYNC_DIRECTIONS = ['published', 'received', 'dropped', 'invalid'] as const;
export type SyncDirection = (typeof SYNC_DIRECTIONS)[number];

export type VerdictMemorySyncMetrics = ReturnType<typeof createVerdictMemorySyncMetrics>;

export function createVerdictMemorySyncMetrics(registers: Registry[]) {
  const syncUp = new Gauge({
    name: 'cheq_authz_verdict_memory_sync_up',
    help: 'Whether the verdict memory is shared (1: connected to Redis and following the stream, 0: not; checks are served either way).',
    labelNames: ['backend'] as const,
    // Across cluster workers: up only when every worker is.
    aggregator: 'min',
    registers,
  });
  syncUp.set({ backend: 'redis' }, 0);
  const syncMessages = new Counter({
    name: 'cheq_authz_verdict_memory_sync_messages_total',
    help: "Verdict memory changes by direction: published to Redis, received from other replicas and applied, dropped (this process's changes past the send buffer while Redis was away), invalid (entries in the stream that were not valid changes, ignored).",
    labelNames: ['direction'] as const,
    registers,
  });
  for (const direction of SYNC_DIRECTIONS) syncMessages.inc({ direction }, 0);
  const syncLag = new Histogram({
    name: 'cheq_authz_verdict_memory_sync_lag_seconds',
    help: "Seconds from another replica's change to its application here (the stream read back at start or after a reconnect not included).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const syncDisconnects = new Counter({
    name: 'cheq_authz_verdict_memory_sync_disconnects_total',
    help: 'Times the sharing through Redis was lost after it had been up (reconnected with backoff).',
    registers,
  });
  return {
    setUp: (up: boolean): void => syncUp.set({ backend: 'redis' }, up ? 1 : 0),
    count: (direction: SyncDirection, n = 1): void => syncMessages.inc({ direction }, n),
    observeLag: (seconds: number): void => syncLag.observe(Math.max(0, seconds)),
    disconnected: (): void => syncDisconnects.inc(),
  };
}
