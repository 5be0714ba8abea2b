// The verdict memory's sharing through Redis (redis-sync.ts): whether it is up, the changes sent,
// received, dropped and refused, how late peers' changes arrive, and how often it was lost.
// Registered only when redis_url is set; without it, cluster workers sharing through the primary
// (cluster-memory.ts) register the changes counter alone.

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
    count: createSyncMessageCounter(registers),
    observeLag: (seconds: number): void => syncLag.observe(Math.max(0, seconds)),
    disconnected: (): void => syncDisconnects.inc(),
  };
}

/** Counts shared changes by direction (every direction registered at 0). */
export function createSyncMessageCounter(
  registers: Registry[],
): (direction: SyncDirection, n?: number) => void {
  const syncMessages = new Counter({
    name: 'cheq_authz_verdict_memory_sync_messages_total',
    help: "Verdict memory changes by direction: published (to Redis; cluster workers without Redis: to the primary, which relays them), received from other replicas (or workers) and applied, dropped (this process's changes past the send buffer while Redis was away; in a cluster, changes past an IPC channel's bound either way), invalid (changes received that were not valid, ignored).",
    labelNames: ['direction'] as const,
    registers,
  });
  for (const direction of SYNC_DIRECTIONS) syncMessages.inc({ direction }, 0);
  return (direction, n = 1) => syncMessages.inc({ direction }, n);
}
