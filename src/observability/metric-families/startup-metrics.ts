// The startup family: how the process got ready (warm-up checks, connections opened at start).
// Both read NaN until known.

import { Gauge, type Registry } from 'prom-client';

export function createStartupMetrics(registers: Registry[]) {
  const warmupDuration = new Gauge({
    name: 'cheq_authz_warmup_duration_seconds',
    help: 'How long the warm-up before reporting ready took (warmup_checks); NaN until it finished.',
    // Cluster workers warm up in parallel: the slowest is when the primary turned ready.
    aggregator: 'max',
    registers,
  });
  warmupDuration.set(NaN);
  const rtiReachableAtStart = new Gauge({
    name: 'cheq_authz_rti_reachable_at_start',
    help: '1 when the connections opened at start (rti_preconnect) reached RTI, 0 when none did; NaN until known or with rti_preconnect 0.',
    // 1 only when every cluster worker reached RTI.
    aggregator: 'min',
    registers,
  });
  rtiReachableAtStart.set(NaN);
  return { warmupDuration, rtiReachableAtStart };
}
