// What the decision core needs from CHEQ RTI, and how an RTI call can fail.
// The RTI client (src/rti) implements this contract; the core never sees HTTP.

import type { Cancellation } from './cancellation';
import type { HeaderList } from './header-list';

/** Everything RTI is told about one end-user request, already resolved by the core. */
export interface RtiInput {
  readonly eventType: string;
  /** Host as the end user addressed it. */
  readonly host: string;
  readonly clientIp: string | undefined;
  /** Absolute URL: scheme://host/path?query. */
  readonly requestUrl: string;
  readonly requestTimeMs: number;
  readonly method: string;
  readonly headers: HeaderList;
  /** End-user header names in arrival order, proxy-added ones left out. */
  readonly headerNames: readonly string[];
  /** `_cheq_rti` cookie (v1). */
  readonly cheqCookie: string | undefined;
  /** `_cq_duid` and `_cq_pvid` cookies: CHEQ's device and page-view ids (v4). */
  readonly duidCookie: string | undefined;
  readonly pvidCookie: string | undefined;
  /** `_cq_s` cookie: CHEQ's session (v4.1 sCookie). */
  readonly sCookie: string | undefined;
  /** The proxy's id of this request (v4.1 customId2, returned as ids.customParam2). */
  readonly proxyRequestId: string | undefined;
  /** TLS cipher and version and the geo region, from headers the proxy sets (v4.1). */
  readonly tlsCipher: string | undefined;
  readonly tlsVersion: string | undefined;
  readonly geoRegion: string | undefined;
  /** The demo's `cheq_demo_verdict` cookie, read only when the demo turns it on (the emulator). */
  readonly demoVerdict: string | undefined;
  /** TLS fingerprints, when the proxy passes them in a header. */
  readonly ja3: string | undefined;
  readonly ja4: string | undefined;
  readonly channel: string | undefined;
}

/** RTI's judgement of the traffic, v4's words; v1's isInvalid maps onto it (src/rti). */
export type Verdict = 'benign' | 'suspicious' | 'malicious';

export const VERDICTS: readonly Verdict[] = ['benign', 'suspicious', 'malicious'];

/**
 * RTI's answer on one request, the same for every API generation: the policy reads only this.
 * What a generation does not report is undefined (or empty).
 */
export interface RtiVerdict {
  readonly verdict: Verdict;
  /** Classification (threat type) code, rti-api.md §4: v1 threatTypeCode, v4 classification.code. */
  readonly code: number;
  /** Detection reason codes (v4 cheqDetection.reasons); empty on v1. */
  readonly reasons: readonly number[];
  /** 0-100 (v4 decision.riskScore). */
  readonly riskScore: number | undefined;
  /** The CHEQ rule behind the verdict (v4 decision.ruleName). */
  readonly ruleName: string | undefined;
  /** v1 requestId. */
  readonly requestId: string | undefined;
  /** v4 ids.rayId: CHEQ's id of this request, for support. */
  readonly rayId: string | undefined;
  /** A complete Set-Cookie value for the end user's browser (v1 setCookie). */
  readonly setCookie: string | undefined;
  /** x-cheq-rti-result, CHEQ's format (v4, v4.1): `version=…;verdict=…;threat-type-code=…;ids=…` */
  readonly rtiResult?: string;
}

/** Whether RTI calls the traffic invalid (v1's isInvalid). */
export function isInvalid(verdict: RtiVerdict): boolean {
  return verdict.verdict !== 'benign';
}

export interface RtiCheck {
  /**
   * Asks RTI for a verdict within `timeoutMs` (connect, headers and body together).
   * Rejects only with {@link RtiError}; a cancellation rejects with code `cancelled`.
   */
  check(input: RtiInput, timeoutMs: number, cancellation?: Cancellation): Promise<RtiVerdict>;
}

/**
 * How a call made to RTI failed. A failure's one spelling: the error code, the log line's
 * `failure` field, and the metric labels (`result` of RTI calls, `cause` of fail-opens).
 */
export const RTI_CALL_ERROR_CODES = [
  'rti_timeout',
  'rti_connect_error',
  'rti_http_status',
  'rti_bad_response',
  'cancelled',
] as const;
export type RtiCallErrorCode = (typeof RTI_CALL_ERROR_CODES)[number];

/** Why RTI was not called at all: its circuit is open, or too many calls are in flight. */
export const RTI_SKIP_CODES = ['rti_circuit_open', 'rti_overloaded'] as const;
export type RtiSkipCode = (typeof RTI_SKIP_CODES)[number];

export type RtiErrorCode = RtiCallErrorCode | RtiSkipCode;

export function isRtiSkip(code: RtiErrorCode): code is RtiSkipCode {
  return (RTI_SKIP_CODES as readonly string[]).includes(code);
}

export class RtiError extends Error {
  override readonly name = 'RtiError';
  /** RTI's HTTP status, set for rti_http_status. */
  readonly statusCode: number | undefined;

  constructor(
    readonly code: RtiErrorCode,
    message: string,
    options?: { cause?: unknown; statusCode?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.statusCode = options?.statusCode;
  }
}
