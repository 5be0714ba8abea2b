// The configuration family: what this server runs (version, mode, RTI budget, config hash), when
// its configuration was loaded, and the reloads refused. The same in every cluster worker unless
// a worker was left behind: each gauge's aggregator says how /metrics shows the workers.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { Mode } from '../../core/decision';

/** The configuration in use, as the gauges describe it. */
interface ConfigInUse {
  /** A short one-way hash of the effective settings. */
  readonly hash: string;
  readonly mode: Mode;
  readonly rtiTimeoutMs: number;
}

export function createConfigMetrics(registers: Registry[], version: string) {
  const buildInfo = new Gauge({
    name: 'cheq_authz_build_info',
    help: 'Version of this server and of Node.js; always 1.',
    labelNames: ['version', 'node_version'] as const,
    // The same in every cluster worker: /metrics shows one value, not the sum.
    aggregator: 'first',
    registers,
  });
  buildInfo.set({ version, node_version: process.version }, 1);
  const rtiTimeout = new Gauge({
    name: 'cheq_authz_rti_timeout_seconds',
    help: 'Configured RTI time budget (timeout_ms), for comparing RTI latency against it.',
    // The same in every cluster worker: /metrics shows one value, not the sum.
    aggregator: 'first',
    registers,
  });
  const mode = new Gauge({
    name: 'cheq_authz_mode',
    help: 'Configured mode: 1 for the active one (monitoring or blocking), 0 for the other.',
    labelNames: ['mode'] as const,
    // The same in every cluster worker: /metrics shows one value, not the sum.
    aggregator: 'first',
    registers,
  });
  const configInfo = new Gauge({
    name: 'cheq_authz_config_info',
    help: 'The configuration in use: 1 for its hash (a short one-way hash of the effective settings).',
    labelNames: ['hash'] as const,
    // Cluster workers reload each on their own: a worker left behind shows a second hash.
    aggregator: 'max',
    registers,
  });
  const configLoaded = new Gauge({
    name: 'cheq_authz_config_last_reload_timestamp_seconds',
    help: 'When the configuration in use was loaded (at start or by the last successful reload), Unix time.',
    // The oldest of the cluster workers: a worker that did not reload shows.
    aggregator: 'min',
    registers,
  });
  const configReloadFailures = new Counter({
    name: 'cheq_authz_config_reload_failures_total',
    help: 'Reloads refused (invalid file, or a setting that needs a restart changed): the previous configuration kept serving.',
    registers,
  });
  /** The configuration in use changed (at start, or a reload): the gauges that describe it. */
  const configInUse = (config: ConfigInUse): void => {
    configInfo.reset();
    configInfo.set({ hash: config.hash }, 1);
    configLoaded.set(Date.now() / 1000);
    rtiTimeout.set(config.rtiTimeoutMs / 1000);
    mode.set({ mode: 'monitoring' }, config.mode === 'monitoring' ? 1 : 0);
    mode.set({ mode: 'blocking' }, config.mode === 'blocking' ? 1 : 0);
  };
  return { configInUse, configReloadFailures };
}
