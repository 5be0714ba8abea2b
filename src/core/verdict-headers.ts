// The verdict headers the upstream application receives on allow. Every allow also strips
// client-sent headers of these names, and any other the client sent under our prefix, so a client
// can never forge a verdict, today's or one a later version adds. CHEQ's own x-cheq-rti-result is
// stripped whatever the prefix, even with verdict headers off: apps written for CHEQ trust it.

import type { DecisionReason } from './decision';
import type { HeaderList } from './header-list';
import { isInvalid, type RtiVerdict } from './rti-port';

export interface VerdictHeaderNames {
  /** Why the request was allowed: a DecisionReason. */
  readonly decision: string;
  /** RTI's verdict: benign, suspicious or malicious. */
  readonly verdict: string;
  /** RTI's classification (threat type) code. */
  readonly threatType: string;
  /** `true` or `false`: RTI's isInvalid (v1), a verdict other than benign (v4). */
  readonly invalid: string;
  /** RTI's risk score, 0-100 (v4). */
  readonly riskScore: string;
  /** RTI's request id (v1), for support and log correlation. */
  readonly rtiRequestId: string;
  /** CHEQ's ray id (v4), for support and log correlation. */
  readonly rayId: string;
  /** `1` when the upstream should challenge the visitor (challenge_action allow). */
  readonly challenge: string;
}

export function verdictHeaderNames(prefix: string): VerdictHeaderNames {
  return {
    decision: `${prefix}decision`,
    verdict: `${prefix}verdict`,
    threatType: `${prefix}threat-type`,
    invalid: `${prefix}invalid`,
    riskScore: `${prefix}risk-score`,
    rtiRequestId: `${prefix}rti-request-id`,
    rayId: `${prefix}ray-id`,
    challenge: `${prefix}challenge`,
  };
}

/** CHEQ's verdict header (rti-api.md §5), under CHEQ's name whatever our prefix. */
export const RTI_RESULT_HEADER = 'x-cheq-rti-result';

export interface UpstreamHeaders {
  readonly set: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

/** The prefix of each set of names, worked out once per configuration. */
const prefixes = new WeakMap<VerdictHeaderNames, string>();

function prefixOf(names: VerdictHeaderNames): string {
  let prefix = prefixes.get(names);
  if (prefix === undefined) {
    prefix = names.decision.slice(0, -'decision'.length);
    prefixes.set(names, prefix);
  }
  return prefix;
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
  clientHeaders: HeaderList,
): UpstreamHeaders {
  if (!names) return { set: [], remove: forgedRtiResults(clientHeaders) };
  const set: [string, string][] = [[names.decision, reason]];
  const remove: string[] = [];
  const put = (name: string, value: string | undefined): void => {
    if (value === undefined) remove.push(name);
    else set.push([name, value]);
  };
  put(names.threatType, verdict && String(verdict.code));
  put(names.invalid, verdict && String(isInvalid(verdict)));
  put(names.rtiRequestId, verdict?.requestId || undefined);
  put(names.challenge, challenge ? '1' : undefined);
  put(names.verdict, verdict?.verdict);
  put(names.riskScore, verdict?.riskScore === undefined ? undefined : String(verdict.riskScore));
  put(names.rayId, verdict?.rayId || undefined);
  put(RTI_RESULT_HEADER, verdict?.rtiResult);
  const prefix = prefixOf(names);
  for (const [name] of clientHeaders.entries) {
    // Most names differ in their first character: no string is made for them.
    if (!sameChar(name, prefix, 0) && !sameChar(name, RTI_RESULT_HEADER, 0)) continue;
    // CGI-style apps (PHP, WSGI) read `x-cheq_decision` as `x-cheq-decision`.
    const dashed = name.includes('_') ? name.replace(/_/g, '-') : name;
    if (!dashed.startsWith(prefix) && dashed !== RTI_RESULT_HEADER) continue;
    if (!set.some(([setName]) => setName === name) && !remove.includes(name)) remove.push(name);
  }
  return { set, remove };
}

/** Client-sent x-cheq-rti-result headers (any `_` spelling), to strip with verdict headers off. */
function forgedRtiResults(clientHeaders: HeaderList): string[] {
  const remove: string[] = [];
  for (const [name] of clientHeaders.entries) {
    if (name.length !== RTI_RESULT_HEADER.length || !sameChar(name, RTI_RESULT_HEADER, 0)) continue;
    if (name.replace(/_/g, '-') === RTI_RESULT_HEADER && !remove.includes(name)) remove.push(name);
  }
  return remove;
}

/** Whether `name` and `prefix` agree at `i`, reading `_` in `name` as `-`. */
function sameChar(name: string, prefix: string, i: number): boolean {
  const c = name.charCodeAt(i);
  return c === prefix.charCodeAt(i) || (c === 95 /* _ */ && prefix.charCodeAt(i) === 45); /* - */
}
