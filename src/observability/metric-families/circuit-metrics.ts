// The circuit family: how many RTI endpoints' breakers are in each state, and the timeouts a
// breaker did not hold against RTI because this process lagged.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { CircuitState } from '../../rti/circuit-breaker';

const CIRCUIT_STATES = ['closed', 'open', 'half_open'] as const satisfies readonly CircuitState[];

export function createCircuitMetrics(registers: Registry[]) {
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
  return { rtiCircuitIgnoredTimeouts, circuitStateChanged };
}
