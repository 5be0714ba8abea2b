// The RTI v4 wire format (rti-api.md §5): the JSON we post to /defend/4.0/traffic and the JSON we
// accept back. Shares its limits and header list with v1 (./rti-wire), so both say the same.

import type { RtiInput, RtiVerdict, Verdict } from '../core/rti-port';
import { RtiError, VERDICTS } from '../core/rti-port';
import { PACKAGE_NAME } from '../version';
import {
  END_USER_HEADERS,
  MAX_FIELD_CHARS,
  MAX_HEADER_NAMES,
  headerSafe,
  type RtiCredentials,
} from './rti-wire';

export const RTI_V4_PATH = '/defend/4.0/traffic';

/** Reason codes kept from one answer, at most: enough for any rule, bounded for logs and headers. */
const MAX_REASONS = 64;

/** The v4 request body, as an object the v4.1 encoder adds to. */
export interface RtiV4Payload {
  readonly endUserParams: {
    readonly headers: Record<string, string>;
    readonly [field: string]: unknown;
  };
  readonly [field: string]: unknown;
}

/**
 * Encodes the JSON body. Optional fields are left out rather than sent empty, every string is
 * capped at MAX_FIELD_CHARS, and only the headers RTI is told about go out: never cookie or
 * authorization, which are not a third party's to see.
 */
export function toRtiV4Body(input: RtiInput, credentials: RtiCredentials): string {
  return JSON.stringify(rtiV4Payload(input, credentials));
}

export function rtiV4Payload(input: RtiInput, credentials: RtiCredentials): RtiV4Payload {
  const headers: Record<string, string> = {};
  if (input.host) headers['host'] = cap(input.host);
  for (const name of END_USER_HEADERS) {
    const value = input.headers.get(name);
    if (value) headers[name] = cap(value);
  }
  // CHEQ's CDN workers pass TLS fingerprints as these pseudo-headers.
  if (input.ja3) headers['cheq_ja3'] = cap(input.ja3);
  if (input.ja4) headers['cheq_ja4'] = cap(input.ja4);
  // JSON.stringify drops undefined members, which is how absent fields stay out.
  return {
    tagHash: credentials.tagHash,
    apiKey: credentials.apiKey,
    endUserParams: {
      clientIp: optional(input.clientIp),
      requestUrl: cap(input.requestUrl),
      headerNames: cap(input.headerNames.slice(0, MAX_HEADER_NAMES).join(',')),
      method: input.method,
      headers,
    },
    isHeaderNamesOrdered: true,
    channel: cap(input.channel || PACKAGE_NAME),
    // CHEQ's workers report the event type in customId1; v4 has no field of its own for it.
    customId1: optional(input.eventType),
    duidCookie: optional(input.duidCookie),
    pvidCookie: optional(input.pvidCookie),
    // Only the emulator reads it, and only the demo sets it.
    demoVerdict: input.demoVerdict,
  };
}

export function cap(value: string): string {
  return value.length > MAX_FIELD_CHARS ? value.slice(0, MAX_FIELD_CHARS) : value;
}

export function optional(value: string | undefined): string | undefined {
  return value ? cap(value) : undefined;
}

/**
 * Reads RTI's v4 (and v4.1) JSON answer. No verdict (not a JSON object, no decision.verdict RTI
 * defines, no integer classification.code) fails with rti_bad_response; an odd optional field is
 * only dropped, an unknown one ignored. `generation` is the API version called, named in
 * x-cheq-rti-result when the answer's metadata.version is not a version number.
 */
export function parseRtiV4Response(text: string, generation = '4.0'): RtiVerdict {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err: unknown) {
    throw new RtiError('rti_bad_response', 'RTI v4 answered with something that is not JSON', {
      cause: err,
    });
  }
  if (!isObject(body)) {
    throw new RtiError('rti_bad_response', 'RTI v4 answered with JSON that is not an object');
  }
  const { decision, classification, ids, cheqDetection, metadata } = body;
  if (!isObject(decision)) {
    throw new RtiError('rti_bad_response', 'RTI v4 answer has no decision object');
  }
  const { verdict, riskScore, ruleName } = decision;
  if (!isVerdict(verdict)) {
    throw new RtiError(
      'rti_bad_response',
      'RTI v4 answer has no decision.verdict of benign, suspicious or malicious',
    );
  }
  const code = isObject(classification) ? classification['code'] : undefined;
  if (typeof code !== 'number' || !Number.isSafeInteger(code)) {
    throw new RtiError('rti_bad_response', 'RTI v4 answer has no integer classification.code');
  }
  return {
    verdict,
    code,
    reasons: readReasons(isObject(cheqDetection) ? cheqDetection['reasons'] : undefined),
    riskScore:
      typeof riskScore === 'number' && riskScore >= 0 && riskScore <= 100 ? riskScore : undefined,
    ruleName: headerSafe(ruleName, 256),
    requestId: undefined,
    rayId: headerSafe(isObject(ids) ? ids['rayId'] : undefined, 256),
    // v4 sets no cookie from the server: CHEQ's tag sets _cq_duid and _cq_pvid in the browser.
    setCookie: undefined,
    rtiResult: rtiResultOf(
      versionOf(isObject(metadata) ? metadata['version'] : undefined) ?? generation,
      verdict,
      code,
      isObject(ids) ? ids : {},
    ),
  };
}

/** RTI's own version string when it is a version number (`4.1`); undefined otherwise. */
function versionOf(value: unknown): string | undefined {
  return typeof value === 'string' && /^[0-9]{1,4}(?:\.[0-9]{1,4}){0,3}$/.test(value)
    ? value
    : undefined;
}

/** The ids RTI reports (rti-api.md §5), the only ones passed on in x-cheq-rti-result. */
const RESULT_IDS = new Set([
  'rayId',
  'pageViewId',
  'duid',
  'uniqueVisitId',
  'customParam1',
  'customParam2',
  'customParam3',
  'customParam4',
]);

/**
 * x-cheq-rti-result as CHEQ's edge integrations set it: `version=…;verdict=…;threat-type-code=…;
 * ids=<the ids object as JSON>`. Only the known ids, each a header-safe string (or null) of at most
 * 256 characters, so the header stays one bounded line of visible ASCII whatever RTI answers.
 */
function rtiResultOf(
  version: string,
  verdict: Verdict,
  code: number,
  ids: Record<string, unknown>,
): string {
  const kept: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(ids)) {
    if (!RESULT_IDS.has(name)) continue;
    if (value === null) kept[name] = null;
    else {
      const safe = headerSafe(value, 256);
      if (safe !== undefined) kept[name] = safe;
    }
  }
  return `version=${version};verdict=${verdict};threat-type-code=${code};ids=${JSON.stringify(kept)}`;
}

const NO_REASONS: readonly number[] = Object.freeze([]);

/** The safe-integer reason codes, the first MAX_REASONS of them; anything else is ignored. */
function readReasons(value: unknown): readonly number[] {
  if (!Array.isArray(value)) return NO_REASONS;
  const reasons: number[] = [];
  for (const reason of value as unknown[]) {
    if (typeof reason !== 'number' || !Number.isSafeInteger(reason)) continue;
    if (reasons.push(reason) === MAX_REASONS) break;
  }
  return reasons.length === 0 ? NO_REASONS : reasons;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isVerdict(value: unknown): value is Verdict {
  return (VERDICTS as readonly unknown[]).includes(value);
}
