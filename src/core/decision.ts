// Decision values: what the core answers for one request, whatever the transport.
// Built only through the functions below so their invariants live in one place.

import {
  RTI_CALL_ERROR_CODES,
  RTI_SKIP_CODES,
  type RtiCallErrorCode,
  type RtiVerdict,
} from './rti-port';

export type Action = 'allow' | 'deny' | 'redirect';
export type Mode = 'monitoring' | 'blocking';

/** Why the core chose its action; a bounded metric label. */
export type DecisionReason =
  | 'valid' // RTI: not invalid traffic
  | 'threat_block' // a block rule matched (by default: block codes; v4 also malicious)
  | 'threat_challenge' // a challenge rule matched (by default: challenge codes; v4 also suspicious)
  | 'threat_unlisted' // invalid, but no rule acts on it: allowed
  | 'monitoring' // invalid, but monitoring mode never acts
  | 'not_enforced' // blocking mode would act, but the visitor is outside enforce_percent: allowed
  | 'excluded' // path in uri_exclusion: RTI not called
  | 'ignored' // path in the default ignore list (ignore_paths): RTI not called
  | 'preflight' // CORS preflight: RTI not called
  | 'no_site' // no configured site serves this host, and the top level has no tag hash
  | 'fail_open'; // RTI failed or the server did: allowed

/**
 * Why a request failed open, spelled the same in the log line and the `cause` metric label:
 * an RTI error code, or `overloaded` (this process was saturated and shed the check without
 * calling RTI), `no_time_budget` (the proxy's deadline left no time for RTI) or `internal_error`
 * (a bug of ours).
 */
export const FAILURE_CAUSES = [
  ...RTI_CALL_ERROR_CODES,
  ...RTI_SKIP_CODES,
  'overloaded',
  'no_time_budget',
  'internal_error',
] as const;
export type FailureCause = (typeof FAILURE_CAUSES)[number];

export interface DenyBody {
  readonly contentType: string;
  readonly text: string;
}

export interface Decision {
  readonly action: Action;
  readonly reason: DecisionReason;
  /** 200 allow, 302 redirect, 403 deny. */
  readonly httpStatus: 200 | 302 | 403;
  /** Redirect target; set only when action is `redirect`. */
  readonly location?: string;
  /** Body for the end user; set only when action is `deny`. */
  readonly body?: DenyBody;
  /** Set-Cookie value for the end user, on every action. */
  readonly setCookie?: string;
  /** Verdict headers to set on the upstream request (allow only). */
  readonly upstreamHeaders: readonly (readonly [string, string])[];
  /** Upstream request headers to strip so a client cannot forge a verdict (allow only). */
  readonly upstreamHeadersToRemove: readonly string[];
  /** Extra response headers to the client: x-cheq-cdn-request-id, the x-cheq-rti-result echo. */
  readonly clientHeaders?: readonly (readonly [string, string])[];
  readonly mode: Mode;
  /** The configured site that decided (`default`: the top level; `none`: no site served it). */
  readonly site: string;
  readonly eventType?: string;
  readonly verdict?: RtiVerdict;
  /** The policy rule that chose the action on RTI's verdict (a configured name or `default:…`). */
  readonly rule?: string;
  /** Allowed instead of acted on (monitoring, not_enforced): what blocking would have done, and why. */
  readonly would?: { readonly action: Action; readonly reason: DecisionReason };
  readonly failure?: FailureCause;
  /** Human-readable detail of the failure, for logs only (never a metric label). */
  readonly failureDetail?: string;
  /** The RTI call, when one was made: outcome and wall time. */
  readonly rti?: { readonly outcome: 'ok' | RtiCallErrorCode; readonly durationMs: number };
}

const STATUS: Record<Action, 200 | 302 | 403> = { allow: 200, deny: 403, redirect: 302 };

export function statusOf(action: Action): 200 | 302 | 403 {
  return STATUS[action];
}
