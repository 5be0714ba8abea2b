// Prometheus metrics on an injected registry. Every label is bounded: transports, actions,
// reasons, stable failure codes and threat type codes; never paths, IPs or user agents.

import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import type { Action, DecisionReason, FailureCause } from '../core/decision';
import type { Transport } from '../core/request-attributes';
import type { RtiCallErrorCode } from '../core/rti-port';
import { scrapeTimeCounter, scrapeTimeGauge } from './scrape-time-counts';
import { ScrapeTimeHistogram } from './scrape-time-histogram';

export const TRANSPORTS: readonly Transport[] = ['grpc', 'nginx', 'envoy_http', 'forward_auth'];

/** Actions that each reason can lead to: the label sets zeroed at startup. */
const DECISION_LABELS: readonly (readonly [Action, DecisionReason])[] = [
  ['allow', 'valid'],
  ['allow', 'threat_challenge'],
  ['allow', 'threat_unlisted'],
  ['allow', 'monitoring'],
  ['allow', 'excluded'],
  ['allow', 'preflight'],
  ['allow', 'fail_open'],
  ['allow', 'not_enforced'],
  ['allow', 'no_site'],
  ['deny', 'threat_block'],
  ['deny', 'threat_challenge'],
  ['redirect', 'threat_block'],
  ['redirect', 'threat_challenge'],
];

const RTI_RESULTS: Record<'ok' | RtiCallErrorCode, string> = {
  ok: 'ok',
  RTI_TIMEOUT: 'timeout',
  RTI_CONNECT: 'connect_error',
  RTI_HTTP_STATUS: 'http_status',
  RTI_BAD_RESPONSE: 'bad_response',
  RTI_ABORTED: 'aborted',
};

const FAIL_OPEN_CAUSES: Record<FailureCause, string> = {
  RTI_TIMEOUT: 'rti_timeout',
  RTI_CONNECT: 'rti_connect_error',
  RTI_HTTP_STATUS: 'rti_http_status',
  RTI_BAD_RESPONSE: 'rti_bad_response',
  RTI_ABORTED: 'cancelled',
  RTI_CIRCUIT_OPEN: 'rti_circuit_open',
  RTI_OVERLOADED: 'rti_overloaded',
  OVERLOADED: 'overloaded',
  NO_TIME_BUDGET: 'no_time_budget',
  INTERNAL: 'internal_error',
};

/** Threat type codes RTI documents (rti-api.md §4); others are counted as `other`. */
const KNOWN_THREAT_TYPES = new Set([
  0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
]);

export const rtiResultLabel = (outcome: 'ok' | RtiCallErrorCode): string => RTI_RESULTS[outcome];
export const failOpenCauseLabel = (cause: FailureCause): string => FAIL_OPEN_CAUSES[cause];
export const threatTypeLabel = (code: number): string =>
  KNOWN_THREAT_TYPES.has(code) ? String(code) : 'other';

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
}

/** Live readings of the RTI client and admission, taken at scrape time. */
export interface RtiReadings {
  readonly inFlight: number;
  /** Checks waiting in line for an RTI call slot; undefined when shedding is off. */
  readonly admissionWaiting: number | undefined;
  readonly pool: Readonly<Record<'connected' | 'free' | 'pending' | 'running', number>>;
}

export const CIRCUIT_STATES = ['closed', 'open', 'half_open'] as const;
export type CircuitState = (typeof CIRCUIT_STATES)[number];

export function createMetrics(
  registry: Registry,
  settings: MetricsSettings,
  readRti: () => RtiReadings,
) {
  const registers = [registry];
  if (settings.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const decisions = scrapeTimeCounter({
    name: 'cheq_authz_decisions_total',
    help: 'Decisions taken, by transport, action taken (allow, deny, redirect), reason and site (a configured site, default for the top level, none when no site served the request).',
    labelNames: ['transport', 'action', 'reason', 'site'] as const,
    registers,
  });
  const checkDuration = new ScrapeTimeHistogram({
    name: 'cheq_authz_check_duration_seconds',
    help: 'Time from receiving a check to answering it, RTI call included.',
    labelNames: ['transport'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1],
    registers,
  });
  const checksInFlight = scrapeTimeGauge({
    name: 'cheq_authz_checks_in_flight',
    help: 'Checks received and not yet answered.',
    labelNames: ['transport'] as const,
    registers,
  });
  const failOpen = scrapeTimeCounter({
    name: 'cheq_authz_fail_open_total',
    help: 'Requests allowed because RTI or this server failed, by cause and site.',
    labelNames: ['transport', 'cause', 'site'] as const,
    registers,
  });
  const monitoringWouldAct = new Counter({
    name: 'cheq_authz_monitoring_would_act_total',
    help: 'Requests allowed that blocking mode would have denied, redirected or challenged: monitoring mode, and visitors outside enforce_percent (reason not_enforced), by site.',
    labelNames: ['transport', 'action', 'reason', 'site'] as const,
    registers,
  });
  const rtiRequests = scrapeTimeCounter({
    name: 'cheq_authz_rti_requests_total',
    help: 'RTI calls by result: ok, timeout, connect_error, http_status, bad_response, aborted.',
    labelNames: ['result'] as const,
    registers,
  });
  const rtiDuration = new ScrapeTimeHistogram({
    name: 'cheq_authz_rti_request_duration_seconds',
    help: 'RTI call latency by result.',
    labelNames: ['result'] as const,
    buckets: [
      0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.09, 0.1, 0.15, 0.2, 0.3,
      0.5, 1,
    ],
    registers,
  });
  const threatTypes = scrapeTimeCounter({
    name: 'cheq_authz_threat_types_total',
    help: 'RTI verdicts by threat type (classification) code and isInvalid (v4: a verdict other than benign).',
    labelNames: ['threat_type', 'invalid'] as const,
    registers,
  });
  const verdicts = scrapeTimeCounter({
    name: 'cheq_authz_verdicts_total',
    help: 'RTI verdicts (benign, suspicious, malicious) by the policy rule that acted on them (a configured rule name or default:…) and site.',
    labelNames: ['verdict', 'rule', 'site'] as const,
    registers,
  });
  const rejectedRequests = new Counter({
    name: 'cheq_authz_rejected_requests_total',
    help: 'HTTP requests answered 4xx without a decision (unknown path, missing or malformed control headers), and connections closed unanswered (too_many_connections, pipeline_overflow; also on gRPC), by reason.',
    labelNames: ['transport', 'reason'] as const,
    registers,
  });
  new Gauge({
    name: 'cheq_authz_rti_in_flight',
    help: 'RTI calls in flight (bounded by rti_max_in_flight).',
    registers,
    collect() {
      this.set(readRti().inFlight);
    },
  });
  new Gauge({
    name: 'cheq_authz_rti_pool',
    help: 'RTI keep-alive pool: connections connected and free, requests running and pending.',
    labelNames: ['stat'] as const,
    registers,
    collect() {
      for (const [stat, value] of Object.entries(readRti().pool)) this.set({ stat }, value);
    },
  });
  if (settings.overloadShedding) {
    new Gauge({
      name: 'cheq_authz_admission_waiting',
      help: 'Checks waiting in line for an RTI call slot (all rti_connections busy); those that cannot start in time fail open as overloaded.',
      registers,
      collect() {
        const waiting = readRti().admissionWaiting;
        if (waiting !== undefined) this.set(waiting);
      },
    });
  }
  const rtiCircuitIgnoredTimeouts = new Counter({
    name: 'cheq_authz_rti_circuit_ignored_timeouts_total',
    help: 'RTI timeouts the circuit breaker did not count against RTI: this process lagged during the call.',
    registers,
  });
  const rtiCircuitState = new Gauge({
    name: 'cheq_authz_rti_circuit_state',
    help: 'RTI endpoints whose circuit breaker is in each state (closed, open, half_open); with one endpoint, 1 for the current state.',
    labelNames: ['state'] as const,
    registers,
  });
  for (const state of CIRCUIT_STATES) rtiCircuitState.set({ state }, 0);
  /** A breaker moved from `previous` (undefined: new) to `current` (undefined: dropped). */
  const circuitStateChanged = (previous?: CircuitState, current?: CircuitState): void => {
    if (previous) rtiCircuitState.dec({ state: previous });
    if (current) rtiCircuitState.inc({ state: current });
  };
  const buildInfo = new Gauge({
    name: 'cheq_authz_build_info',
    help: 'Version of this server and of Node.js; always 1.',
    labelNames: ['version', 'node_version'] as const,
    // The same in every cluster worker: /metrics shows one value, not the sum.
    aggregator: 'first',
    registers,
  });
  buildInfo.set({ version: settings.version, node_version: process.version }, 1);
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
  const configInUse = (config: {
    readonly hash: string;
    readonly mode: 'monitoring' | 'blocking';
    readonly rtiTimeoutMs: number;
  }): void => {
    configInfo.reset();
    configInfo.set({ hash: config.hash }, 1);
    configLoaded.set(Date.now() / 1000);
    rtiTimeout.set(config.rtiTimeoutMs / 1000);
    mode.set({ mode: 'monitoring' }, config.mode === 'monitoring' ? 1 : 0);
    mode.set({ mode: 'blocking' }, config.mode === 'blocking' ? 1 : 0);
  };
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

  for (const transport of TRANSPORTS) {
    checksInFlight.labels(transport);
    for (const site of settings.sites) {
      for (const [action, reason] of DECISION_LABELS)
        decisions.labels(transport, action, reason, site);
      for (const cause of Object.values(FAIL_OPEN_CAUSES)) failOpen.labels(transport, cause, site);
      for (const [action, reason] of DECISION_LABELS) {
        if (reason.startsWith('threat_') && (action !== 'allow' || reason === 'threat_challenge')) {
          monitoringWouldAct.inc({ transport, action, reason, site }, 0);
        }
      }
    }
  }
  for (const result of Object.values(RTI_RESULTS)) rtiRequests.labels(result);

  return {
    decisions,
    checkDuration,
    checksInFlight,
    failOpen,
    monitoringWouldAct,
    rtiRequests,
    rtiDuration,
    threatTypes,
    verdicts,
    rejectedRequests,
    warmupDuration,
    rtiReachableAtStart,
    circuitStateChanged,
    rtiCircuitIgnoredTimeouts,
    configInUse,
    configReloadFailures,
  };
}
