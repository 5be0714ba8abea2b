// The load family: the line of checks waiting for an RTI call slot, when overload shedding is on.

import { Gauge, type Registry } from 'prom-client';

/** `readWaiting`: checks in line now, read at scrape time; undefined leaves the gauge as it is. */
export function createAdmissionMetrics(
  registers: Registry[],
  readWaiting: () => number | undefined,
): void {
  new Gauge({
    name: 'cheq_authz_admission_waiting',
    help: 'Checks waiting in line for an RTI call slot (all rti_connections busy); those that cannot start in time fail open as overloaded.',
    registers,
    collect() {
      const waiting = readWaiting();
      if (waiting !== undefined) this.set(waiting);
    },
  });
}
