// The fail-open family: requests allowed because RTI or this server failed, by cause. The cause
// label is the failure's one spelling, the same as the log line's `failure` field.

import type { Registry } from 'prom-client';
import { FAILURE_CAUSES } from '../../core/decision';
import { scrapeTimeCounter } from '../scrape-time-counts';
import { TRANSPORTS } from './check-metrics';

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
      for (const cause of FAILURE_CAUSES) failOpen.labels(transport, cause, site);
    }
  }
  return { failOpen };
}
