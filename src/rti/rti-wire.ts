// The RTI v1 wire format (rti-api.md §1): the form we post and the JSON we accept back.

import type { RtiInput, RtiVerdict, Verdict } from '../core/rti-port';
import { RtiError } from '../core/rti-port';

export interface RtiCredentials {
  readonly apiKey: string;
  readonly tagHash: string;
  /** `name_version` of this integration. */
  readonly middlewareVersion: string;
}

/** RTI form field ← end-user request header. */
const HEADER_FIELDS: readonly (readonly [field: string, header: string])[] = [
  ['UserAgent', 'user-agent'],
  ['XForwardedFor', 'x-forwarded-for'],
  ['Referer', 'referer'],
  ['Accept', 'accept'],
  ['AcceptEncoding', 'accept-encoding'],
  ['AcceptLanguage', 'accept-language'],
  ['AcceptCharset', 'accept-charset'],
  ['Origin', 'origin'],
  ['XRequestedWith', 'x-requested-with'],
  ['Connection', 'connection'],
  ['Pragma', 'pragma'],
  ['CacheControl', 'cache-control'],
  ['ContentType', 'content-type'],
  ['TrueClientIP', 'true-client-ip'],
  ['XRealIP', 'x-real-ip'],
  ['RemoteAddr', 'remote-addr'],
  ['Forwarded', 'forwarded'],
];

/** The end-user request headers RTI is told about (lower-case), Host aside. */
export const END_USER_HEADERS = HEADER_FIELDS.map(([, header]) => header);

/** Longest value sent in one form field: RTI needs no more, and a hostile header cannot bloat the call. */
export const MAX_FIELD_CHARS = 8192;
/** Header names sent in HeaderNames, at most (real browsers send a few dozen). */
export const MAX_HEADER_NAMES = 200;

/** Encodes the form body; a field is sent only when it has a value. */
export function toRtiForm(input: RtiInput, credentials: RtiCredentials): string {
  // Hand-joined rather than URLSearchParams: this runs for every check.
  let form = '';
  const add = (field: string, value: string | undefined): void => {
    if (!value) return;
    const capped = value.length > MAX_FIELD_CHARS ? value.slice(0, MAX_FIELD_CHARS) : value;
    form += `${form === '' ? '' : '&'}${field}=${encodeFormValue(capped)}`;
  };
  add('ApiKey', credentials.apiKey);
  add('TagHash', credentials.tagHash);
  add('EventType', input.eventType);
  add('ClientIP', input.clientIp);
  add('RequestURL', input.requestUrl);
  add('RequestTime', String(input.requestTimeMs));
  add('Method', input.method);
  add('HeaderNames', input.headerNames.slice(0, MAX_HEADER_NAMES).join(','));
  add('Host', input.host);
  for (const [field, header] of HEADER_FIELDS) add(field, input.headers.get(header));
  add('CheqCookie', input.cheqCookie);
  add('ResourceType', resourceTypeOf(input.headers.get('accept')));
  add('JA3', input.ja3);
  add('Channel', input.channel);
  add('MiddlewareVersion', credentials.middlewareVersion);
  // Only the emulator reads it, and only the demo sets it.
  add('DemoVerdict', input.demoVerdict);
  return form;
}

/** The first media type the client accepts, when it names one; text/html otherwise (v1 only). */
function resourceTypeOf(accept: string | undefined): string {
  const first = accept?.split(',', 1)[0]?.split(';', 1)[0]?.trim().toLowerCase();
  return first && /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(first) && !first.includes('*')
    ? first
    : 'text/html';
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** application/x-www-form-urlencoded value; a lone surrogate (invalid UTF-16) becomes U+FFFD. */
function encodeFormValue(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return encodeURIComponent(value.replace(LONE_SURROGATE, '\uFFFD'));
  }
}

/** Threat codes of the group "Invalid Suspicious Activity" (rti-api.md §4). */
const SUSPICIOUS_CODES = new Set([4, 5, 13, 14, 15, 21]);

/** v1's isInvalid as a verdict: suspicious for the suspicious-activity codes, else malicious. */
export function v1Verdict(isInvalid: boolean, threatTypeCode: number): Verdict {
  if (!isInvalid) return 'benign';
  return SUSPICIOUS_CODES.has(threatTypeCode) ? 'suspicious' : 'malicious';
}

/**
 * Reads RTI's JSON answer. No verdict (not JSON, no integer threatTypeCode, isInvalid not a
 * boolean) fails with rti_bad_response.
 */
export function parseRtiResponse(text: string): RtiVerdict {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err: unknown) {
    throw new RtiError('rti_bad_response', 'RTI answered with something that is not JSON', {
      cause: err,
    });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RtiError('rti_bad_response', 'RTI answered with JSON that is not an object');
  }
  const { isInvalid, threatTypeCode, requestId, setCookie } = body as Record<string, unknown>;
  if (typeof isInvalid !== 'boolean') {
    throw new RtiError('rti_bad_response', 'RTI answer has no boolean isInvalid');
  }
  if (typeof threatTypeCode !== 'number' || !Number.isSafeInteger(threatTypeCode)) {
    throw new RtiError('rti_bad_response', 'RTI answer has no integer threatTypeCode');
  }
  return {
    verdict: v1Verdict(isInvalid, threatTypeCode),
    code: threatTypeCode,
    reasons: NO_REASONS,
    riskScore: undefined,
    ruleName: undefined,
    requestId: headerSafe(requestId, 256),
    rayId: undefined,
    setCookie: headerSafe(setCookie, 4096),
  };
}

const NO_REASONS: readonly number[] = Object.freeze([]);

/** A value we can pass on in a header: visible ASCII and spaces only (no CR/LF injection). */
const SAFE_HEADER_VALUE = /^[\t\x20-\x7e]+$/;

/** The value when it can travel in an HTTP header as is; undefined otherwise. */
export function headerSafe(value: unknown, maxLength: number): string | undefined {
  return typeof value === 'string' && value.length <= maxLength && SAFE_HEADER_VALUE.test(value)
    ? value
    : undefined;
}
