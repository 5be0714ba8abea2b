// Prometheus metrics on an injected registry, one module per family (metric-families/). Every
// label is bounded: transports, actions, reasons, stable failure codes and threat type codes;
// never paths, IPs or user agents.

import { collectDefaultMetrics, type Registry } from 'prom-client';
import { createAdmissionMetrics } from './metric-families/admission-metrics';
import {
  createChallengeMetrics,
  type SiteChallengeProvider,
} from './metric-families/challenge-metrics';
import { createCheckMetrics } from './metric-families/check-metrics';
import { createCircuitMetrics } from './metric-families/circuit-metrics';
import { createConfigMetrics } from './metric-families/config-metrics';
import { createFailOpenMetrics } from './metric-families/fail-open-metrics';
import { createRtiMetrics, type RtiReadings } from './metric-families/rti-metrics';
import { createStartupMetrics } from './metric-families/startup-metrics';
import {
  createVerdictMemoryMetrics,
  type VerdictMemoryReadings,
} from './metric-families/verdict-memory-metrics';

export type { SiteChallengeProvider } from './metric-families/challenge-metrics';
export type { RtiReadings } from './metric-families/rti-metrics';
export { threatTypeLabel } from './metric-families/rti-metrics';

export type Metrics = ReturnType<typeof createMetrics>;

/** What the dashboards and alerts compare against: the configured budget and mode. */
export interface MetricsSettings {
  readonly version: string;
  /** The site labels counted from the start (0 series for them): configured sites, default. */
  readonly sites: readonly string[];
  /**
   * Node's process metrics (CPU, memory, GC, event loop); false for a throwaway registry such as
   * warm-up's: their GC observer and event-loop histogram would stay alive for good.
   */
  readonly processMetrics?: boolean;
  /** Whether checks wait in line for an RTI call slot (the line is reported then). */
  readonly overloadShedding?: boolean;
  /** Each served site's challenge provider: their challenge label sets counted from the start. */
  readonly challengeProviders?: readonly SiteChallengeProvider[];
  /** The process's verdict memory, read at scrape time; without it only its hits are exported. */
  readonly verdictMemory?: VerdictMemoryReadings;
}

export function createMetrics(
  registry: Registry,
  settings: MetricsSettings,
  readRti: () => RtiReadings,
) {
  const registers = [registry];
  if (settings.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  if (settings.overloadShedding)
    createAdmissionMetrics(registers, () => readRti().admissionWaiting);
  return {
    ...createCheckMetrics(registers, settings.sites),
    ...createFailOpenMetrics(registers, settings.sites),
    ...createChallengeMetrics(registers, settings.challengeProviders ?? []),
    ...createRtiMetrics(registers, readRti),
    ...createCircuitMetrics(registers),
    ...createConfigMetrics(registers, settings.version),
    ...createStartupMetrics(registers),
    ...createVerdictMemoryMetrics(registers, settings.sites, settings.verdictMemory),
  };
}
