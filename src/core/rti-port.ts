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
  readonly cheqCookie: string | undefined;
  readonly resourceType: string;
  readonly ja3: string | undefined;
  readonly channel: string | undefined;
}

/** RTI's verdict on one request. */
export interface RtiVerdict {
  readonly isInvalid: boolean;
  readonly threatTypeCode: number;
  readonly requestId: string | undefined;
  /** A complete Set-Cookie value for the end user's browser. */
  readonly setCookie: string | undefined;
}

export interface RtiCheck {
  /**
   * Asks RTI for a verdict within `timeoutMs` (connect, headers and body together).
   * Rejects only with {@link RtiError}; a cancellation rejects with code RTI_ABORTED.
   */
  check(input: RtiInput, timeoutMs: number, cancellation?: Cancellation): Promise<RtiVerdict>;
}

/** How a call made to RTI failed: a stable code, log field and metric label. */
export type RtiCallErrorCode =
  'RTI_TIMEOUT' | 'RTI_CONNECT' | 'RTI_HTTP_STATUS' | 'RTI_BAD_RESPONSE' | 'RTI_ABORTED';

/** Why RTI was not called at all: its circuit is open, or too many calls are in flight. */
export type RtiSkipCode = 'RTI_CIRCUIT_OPEN' | 'RTI_OVERLOADED';

export type RtiErrorCode = RtiCallErrorCode | RtiSkipCode;

export function isRtiSkip(code: RtiErrorCode): code is RtiSkipCode {
  return code === 'RTI_CIRCUIT_OPEN' || code === 'RTI_OVERLOADED';
}

export class RtiError extends Error {
  override readonly name = 'RtiError';
  /** RTI's HTTP status, set for RTI_HTTP_STATUS. */
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
