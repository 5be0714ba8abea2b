// Whether this process can take one more check to RTI now. A saturated process that starts
// every RTI call at once reads every answer late, and late answers are timeouts: nobody is
// protected. Past a limit, checks wait in line for a slot instead, as long as they can still
// get a verdict in time; the ones that cannot fail open.

import type { Cancellation } from './cancellation';

/** How asking for a slot ended: admitted, not within the time allowed, or the proxy gave up. */
export type AdmissionOutcome = 'admitted' | 'overloaded' | 'cancelled';

export interface Admission {
  /**
   * Whether a flood is on now: checks wait in line for a slot (not merely every slot busy: a
   * healthy RTI at its limit), or wait unseen in the sockets (the process is behind on its CPU).
   * Read before {@link enter} by a check that can be answered without RTI (a remembered block),
   * so that RTI still decides everywhere short of a flood.
   */
  readonly flooded: boolean;
  /**
   * Asks for a slot, waiting in line until `latestStartMs` (epoch milliseconds) at most.
   * Synchronous when there is room at once (the common case costs no promise). After
   * 'admitted', {@link leave} must follow once the RTI call has ended.
   */
  enter(
    latestStartMs: number,
    cancellation?: Cancellation,
  ): AdmissionOutcome | Promise<AdmissionOutcome>;
  leave(): void;
}

/** Admits every check at once: overload shedding turned off. */
export const ADMIT_ALL: Admission = {
  flooded: false,
  enter: () => 'admitted',
  leave: () => undefined,
};
