// Decision values: what the core answers for one request, whatever the transport.
// Built only through the functions below so their invariants live in one place.

import type { ChallengeProviderName } from '../challenge/providers/challenge-provider-name';
import type { MemoryKeyKind } from './block-memory';
import {
  RTI_CALL_ERROR_CODES,
  RTI_SKIP_CODES,
  type RtiCallErrorCode,
  type RtiVerdict,
} from './rti-port';

/**
 * `deny`: a 403 or the stealth 404 (`httpStatus`); `challenge`: the served challenge page, or for
 * a request that cannot show a page, its machine-readable 403.
 */
export type Action = 'allow' | 'deny' | 'redirect' | 'challenge';
export type Mode = 'monitoring' | 'blocking';

/** Why the core chose its action; a bounded metric label. */
export type DecisionReason =
  | 'valid' // RTI: not invalid traffic
  | 'threat_block' // a block rule matched (by default: block codes or reasons; v4 also malicious)
  | 'threat_challenge' // a challenge rule matched (by default: challenge codes; v4 also suspicious)
  | 'threat_redirect' // a redirect rule matched (by default: redirect codes or reasons)
  | 'threat_unlisted' // invalid, but no rule acts on it: allowed
  | 'monitoring' // invalid, but monitoring mode never acts
  | 'not_enforced' // blocking mode would act, but the visitor is outside enforce_percent: allowed
  | 'excluded' // path in uri_exclusion: RTI not called
  | 'ignored' // path in the default ignore list (ignore_paths): RTI not called
  | 'preflight' // CORS preflight: RTI not called
  | 'no_site' // no configured site serves this host, and the top level has no tag hash
  | 'fail_open' // RTI failed or the server did: allowed
  | 'remembered_block' // RTI could not be asked, and blocked this visitor recently (verdict memory)
  | 'challenge_passed' // a challenge action allowed by a valid pass cookie or landing grant (RTI asked)
  | 'challenge_verify'; // the request was to the challenge's verify path: decided without RTI

/** The challenge providers: `browser` is our own proof-of-work page, the others captchas. */
export type { ChallengeProviderName };

/** What happened to a challenge on one request; a bounded metric label. */
export const CHALLENGE_OUTCOMES = [
  'served',
  'passed',
  'failed',
  'expired',
  'replayed',
  'loop',
  'would_serve',
  'unavailable',
] as const;
export type ChallengeOutcome = (typeof CHALLENGE_OUTCOMES)[number];

export interface ChallengeEvent {
  readonly provider: ChallengeProviderName;
  readonly outcome: ChallengeOutcome;
}

/** 200 allow, 302 redirect, 403 deny or challenge, 404 deny with the not_found strategy. */
export type HttpStatus = 200 | 302 | 403 | 404;

/** A response header for the end user, lower-case name. */
export type ClientHeader = readonly [name: string, value: string];

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
  readonly httpStatus: HttpStatus;
  /** Redirect target; set only when action is `redirect`. */
  readonly location?: string;
  /** Body for the end user: on `deny` (403 and 404) and `challenge`. */
  readonly body?: DenyBody;
  /** Set-Cookie value for the end user (RTI's, or our pass cookie); never on the stealth 404. */
  readonly setCookie?: string;
  /** More response headers for the end user: a page's CSP, x-cheq-cdn-request-id, the x-cheq-rti-result echo. */
  readonly clientHeaders?: readonly ClientHeader[];
  /**
   * NGINX only (auth_request drops bodies): the X-Cheq-Page ticket from which the page endpoint
   * renders this decision's page without asking RTI again.
   */
  readonly page?: string;
  /** Set whenever something happened to a challenge on this request (metrics). */
  readonly challengeEvent?: ChallengeEvent;
  /** Verdict headers to set on the upstream request (allow only). */
  readonly upstreamHeaders: readonly (readonly [string, string])[];
  /** Upstream request headers to strip so a client cannot forge a verdict (allow only). */
  readonly upstreamHeadersToRemove: readonly string[];
  readonly mode: Mode;
  /** The configured site that decided (`default`: the top level; `none`: no site served it). */
  readonly site: string;
  readonly eventType?: string;
  readonly verdict?: RtiVerdict;
  /** The policy rule that chose the action on RTI's verdict (a configured name or `default:…`). */
  readonly rule?: string;
  /** Allowed instead of acted on (monitoring, not_enforced): what blocking would have done, and why. */
  readonly would?: { readonly action: Action; readonly reason: DecisionReason };
  /** Why RTI could not be asked; on a remembered block (blocking mode) it is in `remembered`. */
  readonly failure?: FailureCause;
  /**
   * Decided from the verdict memory: why RTI could not be asked, which of the visitor's keys was
   * remembered, and until when (epoch milliseconds).
   */
  readonly remembered?: {
    readonly cause: FailureCause;
    readonly key: MemoryKeyKind;
    readonly expiresAtMs: number;
  };
  /** Human-readable detail of the failure, for logs only (never a metric label). */
  readonly failureDetail?: string;
  /** The RTI call, when one was made: outcome and wall time. */
  readonly rti?: { readonly outcome: 'ok' | RtiCallErrorCode; readonly durationMs: number };
}

const STATUS: Record<Action, HttpStatus> = { allow: 200, deny: 403, redirect: 302, challenge: 403 };

/** The status of an action, unless a strategy says otherwise (not_found: 404). */
export function statusOf(action: Action): HttpStatus {
  return STATUS[action];
}
