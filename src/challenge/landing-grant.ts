// The landing grant: a signed `cq_ok` URL parameter on the 302 after a pass, good for one
// request within 10 s to that URL by that visitor, so the landing request passes even when a
// proxy stripped Set-Cookie (else the browser would loop between the page and the verify path).

import { randomBytes } from 'node:crypto';
import type { ReplayGuard } from './replay-guard';
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
  /** 16 random bytes, base64url: makes the grant one-time (replay-guard.ts). */
  readonly n: string;
  /** Expiry, epoch seconds. */
  readonly e: number;
}

export type LandingGrantCheck =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly why:
        'forged' | 'expired' | 'other_site' | 'other_visitor' | 'other_url' | 'replayed';
    };

/**
 * `returnUrl` (a same-origin path and query, return-url.ts) with a fresh grant for it as its
 * last parameter: the Location of the 302 after a pass.
 */
export function withLandingGrant(keys: SigningKeys, returnUrl: string, visitor: Visitor): string {
  const url = takeLandingGrant(returnUrl).url;
  // Rounded up: a grant must never be shorter-lived than LANDING_GRANT_TTL_MS.
  const e = Math.ceil((visitor.nowMs + LANDING_GRANT_TTL_MS) / 1000);
  const n = randomBytes(16).toString('base64url');
  const grant: LandingGrant = { v: 1, site: visitor.site, b: visitor.binding, u: url, n, e };
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

/**
 * Checks a grant taken from a request whose path and query without `cq_ok` is `url`, and
 * redeems it when good: a second request with it is `replayed` (in this process; across
 * replicas it stays bound to the visitor, the URL and its 10 s).
 */
export function checkLandingGrant(
  keys: SigningKeys,
  grant: string,
  url: string,
  expected: Visitor,
  guard: ReplayGuard,
): LandingGrantCheck {
  const { v, site, b, u, n, e } = verify(keys, 'grant', grant) ?? {};
  if (
    v !== 1 ||
    typeof site !== 'string' ||
    typeof b !== 'string' ||
    typeof u !== 'string' ||
    typeof n !== 'string' ||
    !Number.isInteger(e)
  ) {
    return { ok: false, why: 'forged' };
  }
  if (site !== expected.site) return { ok: false, why: 'other_site' };
  if (b !== expected.binding) return { ok: false, why: 'other_visitor' };
  if (u !== url) return { ok: false, why: 'other_url' };
  const expiresAtMs = (e as number) * 1000;
  if (expiresAtMs <= expected.nowMs) return { ok: false, why: 'expired' };
  if (!guard.redeem(n, expiresAtMs, expected.nowMs)) return { ok: false, why: 'replayed' };
  return { ok: true };
}
