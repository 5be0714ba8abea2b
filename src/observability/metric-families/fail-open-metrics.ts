// The fail-open family: requests allowed because RTI or this server failed, by cause. The cause
// label is the failure's one spelling, the same as the log line's `failure` field.

import type { Registry } from 'prom-client';
import type { FailureCause } from '../../core/decision';
import { scrapeTimeCounter } from '../scrape-time-counts';
import { TRANSPORTS } from './check-metrics';

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

export const failOpenCauseLabel = (cause: FailureCause): string => FAIL_OPEN_CAUSES[cause];

/** `sites`: the site labels counted from the start (0 series for them). */
export function createFailOpenMetrics(registers: Registry[], sites: readonly string[]) {
  const failOpen = scrapeTimeCounter({
    name: 'cheq_authz_fail_open_total',
    help: 'Requests allowed because RTI or this server failed, by cause and site.',
    labelNames: ['transport', 'cause', 'site'] as const,
    registers,
  });
  for (const transport of TRANSPORTS) {
    for (const site of sites) {
      for (const cause of Object.values(FAIL_OPEN_CAUSES)) failOpen.labels(transport, cause, site);
    }
  }
  return { failOpen };
}
