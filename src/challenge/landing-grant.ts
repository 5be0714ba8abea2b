// The landing grant: a signed `cq_ok` URL parameter on the 302 after a pass, valid 10 s for
// that URL and visitor, so the landing request passes even when a proxy stripped Set-Cookie
// (else the browser would loop between the page and the verify path).

import type { Visitor } from './visitor-binding';
import { sign, verify } from './signed-value';
import type { SigningKeys } from './signing-keys';

export const LANDING_GRANT_PARAM = 'cq_ok';
export const LANDING_GRANT_TTL_MS = 10_000;

export interface LandingGrant {
  readonly v: 1;
  readonly site: string;
  /** Visitor binding (visitor-binding.ts). */
  readonly b: string;
  /** Path and query the grant is for, without any `cq_ok` parameter. */
  readonly u: string;
  /** Expiry, epoch seconds. */
  readonly e: number;
}

export type LandingGrantCheck =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly why: 'forged' | 'expired' | 'other_site' | 'other_visitor' | 'other_url';
    };

/**
 * `returnUrl` (a same-origin path and query, return-url.ts) with a fresh grant for it as its
 * last parameter: the Location of the 302 after a pass.
 */
export function withLandingGrant(keys: SigningKeys, returnUrl: string, visitor: Visitor): string {
  const url = takeLandingGrant(returnUrl).url;
  // Rounded up: a grant must never be shorter-lived than LANDING_GRANT_TTL_MS.
  const e = Math.ceil((visitor.nowMs + LANDING_GRANT_TTL_MS) / 1000);
  const grant: LandingGrant = { v: 1, site: visitor.site, b: visitor.binding, u: url, e };
  return `${url}${url.includes('?') ? '&' : '?'}${LANDING_GRANT_PARAM}=${sign(keys, 'grant', grant)}`;
}

/**
 * Splits a path and query into the grant (the first `cq_ok` parameter's value, exact name) and
 * the URL without any `cq_ok` parameter (an empty query loses its `?`), which is what a grant
 * is bound to. Other parameters keep their bytes and order. Never throws.
 */
export function takeLandingGrant(pathAndQuery: string): {
  readonly url: string;
  readonly grant: string | undefined;
} {
  const question = pathAndQuery.indexOf('?');
  if (question < 0) return { url: pathAndQuery, grant: undefined };
  let grant: string | undefined;
  const kept: string[] = [];
  for (const param of pathAndQuery.slice(question + 1).split('&')) {
    const eq = param.indexOf('=');
    if ((eq < 0 ? param : param.slice(0, eq)) === LANDING_GRANT_PARAM) {
      grant ??= eq < 0 ? '' : param.slice(eq + 1);
    } else {
      kept.push(param);
    }
  }
  const query = kept.join('&');
  const path = pathAndQuery.slice(0, question);
  return { url: query === '' ? path : `${path}?${query}`, grant };
}

/** Checks a grant taken from a request whose path and query without `cq_ok` is `url`. */
export function checkLandingGrant(
  keys: SigningKeys,
  grant: string,
  url: string,
  expected: Visitor,
): LandingGrantCheck {
  const { v, site, b, u, e } = verify(keys, 'grant', grant) ?? {};
  if (
    v !== 1 ||
    typeof site !== 'string' ||
    typeof b !== 'string' ||
    typeof u !== 'string' ||
    !Number.isInteger(e)
  ) {
    return { ok: false, why: 'forged' };
  }
  if (site !== expected.site) return { ok: false, why: 'other_site' };
  if (b !== expected.binding) return { ok: false, why: 'other_visitor' };
  if (u !== url) return { ok: false, why: 'other_url' };
  if ((e as number) * 1000 <= expected.nowMs) return { ok: false, why: 'expired' };
  return { ok: true };
}
