// The checks family: every check received, its decision and latency, what monitoring would have
// done, and the requests refused before a decision. Labels: transport, action, reason, site.

import { Counter, type Registry } from 'prom-client';
import type { Action, DecisionReason } from '../../core/decision';
import type { Transport } from '../../core/request-attributes';
import { scrapeTimeCounter, scrapeTimeGauge } from '../scrape-time-counts';
import { ScrapeTimeHistogram } from '../scrape-time-histogram';

export const TRANSPORTS: readonly Transport[] = ['grpc', 'nginx', 'envoy_http', 'forward_auth'];

/** Actions that each reason can lead to: the label sets zeroed at startup. */
const DECISION_LABELS: readonly (readonly [Action, DecisionReason])[] = [
  ['allow', 'valid'],
  ['allow', 'threat_challenge'],
  ['allow', 'threat_unlisted'],
  ['allow', 'monitoring'],
  ['allow', 'excluded'],
  ['allow', 'ignored'],
  ['allow', 'preflight'],
  ['allow', 'fail_open'],
  ['allow', 'not_enforced'],
  ['allow', 'no_site'],
  ['deny', 'threat_block'],
  ['deny', 'threat_challenge'],
  ['deny', 'threat_redirect'],
  ['redirect', 'threat_block'],
  ['redirect', 'threat_challenge'],
  ['redirect', 'threat_redirect'],
  ['challenge', 'threat_challenge'],
  ['allow', 'challenge_passed'],
  ['redirect', 'challenge_verify'],
  ['challenge', 'challenge_verify'],
  ['deny', 'remembered_block'],
  ['redirect', 'remembered_block'],
  ['challenge', 'remembered_block'],
];

/** What blocking mode could have done instead of allowing: the would-act label sets zeroed. */
const WOULD_ACT_LABELS = DECISION_LABELS.filter(
  ([action, reason]) =>
    (reason.startsWith('threat_') || reason === 'remembered_block') &&
    (action !== 'allow' || reason === 'threat_challenge'),
);

/** `sites`: the site labels counted from the start (0 series for them). */
export function createCheckMetrics(registers: Registry[], sites: readonly string[]) {
  const decisions = scrapeTimeCounter({
    name: 'cheq_authz_decisions_total',
    help: 'Decisions taken, by transport, action taken (allow, deny, redirect, challenge), reason and site (a configured site, default for the top level, none when no site served the request).',
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
  const monitoringWouldAct = new Counter({
    name: 'cheq_authz_monitoring_would_act_total',
    help: 'Requests allowed that blocking mode would have denied, redirected or challenged: monitoring mode, and visitors outside enforce_percent (reason not_enforced), by site.',
    labelNames: ['transport', 'action', 'reason', 'site'] as const,
    registers,
  });
  const rejectedRequests = new Counter({
    name: 'cheq_authz_rejected_requests_total',
    help: 'HTTP requests answered 4xx without a decision (unknown path, missing or malformed control headers), and connections closed unanswered (too_many_connections, pipeline_overflow; also on gRPC), by reason.',
    labelNames: ['transport', 'reason'] as const,
    registers,
  });

  for (const transport of TRANSPORTS) {
    checksInFlight.labels(transport);
    for (const site of sites) {
      for (const [action, reason] of DECISION_LABELS)
        decisions.labels(transport, action, reason, site);
      for (const [action, reason] of WOULD_ACT_LABELS)
        monitoringWouldAct.inc({ transport, action, reason, site }, 0);
    }
  }
  return { decisions, checkDuration, checksInFlight, monitoringWouldAct, rejectedRequests };
}
