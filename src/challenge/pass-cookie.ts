// The session cookie a passed challenge sets: signed, bound to the visitor and the site, valid
// for the pass TTL. While it is valid, a challenge action becomes allow (RTI is still asked).

import type { Visitor } from './visitor-binding';
import { sign, verify } from './signed-value';
import type { SigningKeys } from './signing-keys';

export const PASS_COOKIE_NAME = '_cq_se';

/**
 * How much of a Cookie header is searched for pass cookies. Bounded by length, not by a count:
 * a sibling subdomain can toss any number of junk `_cq_se` cookies that browsers send first.
 */
const MAX_COOKIE_HEADER_CHARS = 8192;

export interface PassCookie {
  readonly v: 1;
  readonly site: string;
  /** Visitor binding (visitor-binding.ts). */
  readonly b: string;
  /** Expiry, epoch seconds. */
  readonly e: number;
}

export interface PassRequest extends Visitor {
  /** `challenge_pass_ttl_s`. */
  readonly ttlS: number;
  /** The end user's request came over https: the cookie gets `Secure`. */
  readonly secure: boolean;
}

export type PassCheck =
  | { readonly ok: true; readonly expiresAtMs: number }
  | {
      readonly ok: false;
      readonly why: 'absent' | 'forged' | 'expired' | 'other_site' | 'other_visitor';
    };

/** The whole Set-Cookie header value for a new pass. */
export function issuePassCookie(keys: SigningKeys, request: PassRequest): string {
  const pass: PassCookie = {
    v: 1,
    site: request.site,
    b: request.binding,
    e: Math.floor(request.nowMs / 1000) + request.ttlS,
  };
  // None on https: a cross-site POST navigation (a 3-D Secure return, a SAML or OAuth form_post)
  // must carry the pass. The pass is no app credential, so it gives a forged request nothing.
  // Browsers refuse None without Secure, so plain http keeps Lax.
  const sameSite = request.secure ? 'SameSite=None; Secure' : 'SameSite=Lax';
  return `${PASS_COOKIE_NAME}=${sign(keys, 'pass', pass)}; Max-Age=${request.ttlS}; Path=/; HttpOnly; ${sameSite}`;
}

/**
 * Checks the pass cookies in a Cookie header. Several may arrive (a sibling subdomain can set
 * them on the parent domain, and browsers send all): a request passes when any of those in the
 * header's first MAX_COOKIE_HEADER_CHARS does; otherwise the first one's failure is reported.
 */
export function checkPassCookie(
  keys: SigningKeys,
  cookieHeader: string | undefined,
  expected: Visitor,
): PassCheck {
  let firstFailure: PassCheck | undefined;
  for (const value of passCookieValues(cookieHeader)) {
    const check = checkOne(keys, value, expected);
    if (check.ok) return check;
    firstFailure ??= check;
  }
  return firstFailure ?? { ok: false, why: 'absent' };
}

function checkOne(keys: SigningKeys, value: string, expected: Visitor): PassCheck {
  const payload = verify(keys, 'pass', value);
  const { v, site, b, e } = payload ?? {};
  if (v !== 1 || typeof site !== 'string' || typeof b !== 'string' || !Number.isInteger(e)) {
    return { ok: false, why: 'forged' };
  }
  if (site !== expected.site) return { ok: false, why: 'other_site' };
  if (b !== expected.binding) return { ok: false, why: 'other_visitor' };
  const expiresAtMs = (e as number) * 1000;
  if (expiresAtMs <= expected.nowMs) return { ok: false, why: 'expired' };
  return { ok: true, expiresAtMs };
}

/**
 * Values of cookies named exactly PASS_COOKIE_NAME (never a prefix match), in header order,
 * from the header's first MAX_COOKIE_HEADER_CHARS (a cookie cut there is still read: it fails).
 */
function passCookieValues(cookieHeader: string | undefined): string[] {
  const values: string[] = [];
  if (!cookieHeader) return values;
  for (const pair of cookieHeader.slice(0, MAX_COOKIE_HEADER_CHARS).split(';')) {
    const eq = pair.indexOf('=');
    if (eq >= 0 && pair.slice(0, eq).trim() === PASS_COOKIE_NAME) {
      values.push(pair.slice(eq + 1).trim());
    }
  }
  return values;
}
