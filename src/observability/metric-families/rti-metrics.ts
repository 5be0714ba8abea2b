// The RTI family: every call made to RTI by result and latency, the verdicts it gave, and the
// client's live state (calls in flight, keep-alive pool), read at scrape time.

import { Gauge, type Registry } from 'prom-client';
import { RTI_CALL_ERROR_CODES } from '../../core/rti-port';
import { scrapeTimeCounter } from '../scrape-time-counts';
import { ScrapeTimeHistogram } from '../scrape-time-histogram';

/** Live readings of the RTI client and admission, taken at scrape time. */
export interface RtiReadings {
  readonly inFlight: number;
  /** Checks waiting in line for an RTI call slot; undefined when shedding is off. */
  readonly admissionWaiting: number | undefined;
  readonly pool: Readonly<Record<'connected' | 'free' | 'pending' | 'running', number>>;
}

/** An RTI call's result label: ok, or how it failed (the failure's one spelling). */
const RTI_RESULTS = ['ok', ...RTI_CALL_ERROR_CODES] as const;

/** Threat type codes RTI documents (rti-api.md §4); others are counted as `other`. */
const KNOWN_THREAT_TYPES = new Set([
  0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
]);

export const threatTypeLabel = (code: number): string =>
  KNOWN_THREAT_TYPES.has(code) ? String(code) : 'other';

export function createRtiMetrics(registers: Registry[], readRti: () => RtiReadings) {
  const rtiRequests = scrapeTimeCounter({
    name: 'cheq_authz_rti_requests_total',
    help: `RTI calls by result: ${RTI_RESULTS.join(', ')}.`,
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

  for (const result of RTI_RESULTS) rtiRequests.labels(result);
  return { rtiRequests, rtiDuration, threatTypes, verdicts };
}
