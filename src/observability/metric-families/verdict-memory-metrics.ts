// The verdict memory family: its size, what it learned, forgot and evicted (the store's own
// running totals, read at scrape time), and its hits: checks RTI could not answer that a
// remembered block decided, by site and the cause RTI could not be asked.

import { Counter, Gauge, type Registry } from 'prom-client';
import { FAILURE_CAUSES } from '../../core/decision';
import type { MemoryCounts } from '../../memory/verdict-memory';
import { scrapeTimeCounter } from '../scrape-time-counts';

/** What the family reads from the store at scrape time (VerdictMemory has it all). */
export interface VerdictMemoryReadings {
  readonly size: number;
  readonly maxEntries: number;
  readonly counts: MemoryCounts;
}

/** The causes the memory answers for: every one but a bug of ours (remembered-block.ts). */
const RECALL_CAUSES = FAILURE_CAUSES.filter(cause => cause !== 'internal_error');

/**
 * `sites`: the site labels counted from the start (0 series for every cause of each); `memory`:
 * the store read at scrape time (without one, only the hits are exported).
 */
export function createVerdictMemoryMetrics(
  registers: Registry[],
  sites: readonly string[],
  memory: VerdictMemoryReadings | undefined,
) {
  const hits = scrapeTimeCounter({
    name: 'cheq_authz_verdict_memory_hits_total',
    help: 'Checks RTI could not answer that a remembered block decided (blocked; in monitoring mode counted as would-block), by site and the cause RTI could not be asked.',
    labelNames: ['site', 'cause'] as const,
    registers,
  });
  for (const site of sites) for (const cause of RECALL_CAUSES) hits.labels(site, cause);
  if (memory) createStoreMetrics(registers, memory);
  return { verdictMemoryHits: hits };
}

function createStoreMetrics(registers: Registry[], memory: VerdictMemoryReadings): void {
  new Gauge({
    name: 'cheq_authz_verdict_memory_entries',
    help: 'Entries in the verdict memory now (expired ones not yet swept included).',
    // Cluster workers hold the same entries (shared through the primary): not their sum.
    aggregator: 'max',
    registers,
    collect() {
      this.set(memory.size);
    },
  });
  new Gauge({
    name: 'cheq_authz_verdict_memory_max_entries',
    help: 'Entries the verdict memory holds at most (verdict_memory_max_entries), per process.',
    // The same in every cluster worker: /metrics shows one value, not the sum.
    aggregator: 'first',
    registers,
    collect() {
      this.set(memory.maxEntries);
    },
  });
  totalsCounter(registers, {
    name: 'cheq_authz_verdict_memory_learned_total',
    help: "Blocks remembered, by source: local (RTI's answer here), peer (told by another replica).",
    label: 'source',
    read: () => memory.counts.learned,
  });
  totalsCounter(registers, {
    name: 'cheq_authz_verdict_memory_forgotten_total',
    help: 'Entries forgotten, by reason: rti_allowed (RTI answered without a block), admin (an operator), peer (another replica forgot them).',
    label: 'reason',
    read: () => memory.counts.forgotten,
  });
  totalsCounter(registers, {
    name: 'cheq_authz_verdict_memory_evictions_total',
    help: 'Entries dropped by the store, by reason: capacity (the least recently used, at verdict_memory_max_entries), expired (past their TTL), ip_limit (the oldest key of an address that got a 33rd).',
    label: 'reason',
    read: () => memory.counts.evicted,
  });
}

/** A counter over running totals kept elsewhere: each scrape adds what grew since the last. */
function totalsCounter<L extends string>(
  registers: Registry[],
  spec: {
    readonly name: string;
    readonly help: string;
    readonly label: L;
    readonly read: () => Readonly<Record<string, number>>;
  },
): void {
  const seen = new Map<string, number>();
  new Counter({
    name: spec.name,
    help: spec.help,
    labelNames: [spec.label],
    registers,
    collect() {
      for (const [value, total] of Object.entries(spec.read())) {
        this.inc({ [spec.label]: value } as Record<L, string>, total - (seen.get(value) ?? 0));
        seen.set(value, total);
      }
    },
  });
}
