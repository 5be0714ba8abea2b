// The verdict headers the upstream application receives on allow. Every allow also strips
// client-sent headers of these names, so a client can never forge a verdict.

import type { DecisionReason } from './decision';
import type { RtiVerdict } from './rti-port';

export interface VerdictHeaderNames {
  /** Why the request was allowed: a DecisionReason. */
  readonly decision: string;
  /** RTI threat type code. */
  readonly threatType: string;
  /** `true` or `false`: RTI's isInvalid. */
  readonly invalid: string;
  /** RTI's request id, for support and log correlation. */
  readonly rtiRequestId: string;
  /** `1` when the upstream should challenge the visitor (challenge_action allow). */
  readonly challenge: string;
}

export function verdictHeaderNames(prefix: string): VerdictHeaderNames {
  return {
    decision: `${prefix}decision`,
    threatType: `${prefix}threat-type`,
    invalid: `${prefix}invalid`,
    rtiRequestId: `${prefix}rti-request-id`,
    challenge: `${prefix}challenge`,
  };
}

export interface UpstreamHeaders {
  readonly set: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

/**
 * Headers for the upstream request of an allowed request. With `names` undefined (verdict
 * headers turned off) nothing is set or removed.
 */
export function upstreamVerdictHeaders(
  names: VerdictHeaderNames | undefined,
  reason: DecisionReason,
  verdict: RtiVerdict | undefined,
  challenge: boolean,
): UpstreamHeaders {
  if (!names) return { set: [], remove: [] };
  const set: [string, string][] = [[names.decision, reason]];
  const remove: string[] = [];
  if (verdict) {
    set.push([names.threatType, String(verdict.threatTypeCode)]);
    set.push([names.invalid, String(verdict.isInvalid)]);
  } else {
    remove.push(names.threatType, names.invalid);
  }
  if (verdict?.requestId) set.push([names.rtiRequestId, verdict.requestId]);
  else remove.push(names.rtiRequestId);
  if (challenge) set.push([names.challenge, '1']);
  else remove.push(names.challenge);
  return { set, remove };
}
