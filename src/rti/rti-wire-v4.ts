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

/**
 * Encodes the JSON body. Optional fields are left out rather than sent empty, every string is
 * capped at MAX_FIELD_CHARS, and only the headers RTI is told about go out: never cookie or
 * authorization, which are not a third party's to see.
 */
export function toRtiV4Body(input: RtiInput, credentials: RtiCredentials): string {
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
  return JSON.stringify({
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
  });
}

function cap(value: string): string {
  return value.length > MAX_FIELD_CHARS ? value.slice(0, MAX_FIELD_CHARS) : value;
}

function optional(value: string | undefined): string | undefined {
  return value ? cap(value) : undefined;
}

/**
 * Reads RTI's v4 JSON answer. No verdict (not a JSON object, no decision.verdict RTI defines, no
 * integer classification.code) fails with rti_bad_response; an odd optional field is only dropped.
 */
export function parseRtiV4Response(text: string): RtiVerdict {
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
  const { decision, classification, ids, cheqDetection } = body;
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
  };
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
