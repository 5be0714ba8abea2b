// The one-time token a served challenge page carries: signed, valid 2 minutes, bound to the
// visitor, the site and the return URL, redeemed once per process (replay-guard.ts).

import { randomBytes } from 'node:crypto';
import type { ReplayGuard } from './replay-guard';
import { toReturnUrl } from './return-url';
import { sign, verify } from './signed-value';
import type { SigningKeys } from './signing-keys';
import type { Visitor } from './visitor-binding';

export const CHALLENGE_TOKEN_TTL_MS = 120_000;

/**
 * Longest token issued: NGINX carries it in the X-Cheq-Page header (at most 2 KB by design), and
 * it is in the verify request's line beside the solution. A return URL that would make the token
 * longer (about 1.3 KB and up) is replaced by `/`.
 */
export const MAX_CHALLENGE_TOKEN_LENGTH = 2048;

export interface ChallengeToken {
  readonly v: 1;
  readonly site: string;
  /** Visitor binding (visitor-binding.ts). */
  readonly b: string;
  /** Return URL: a same-origin path and query (return-url.ts). */
  readonly u: string;
  /** Challenge provider the page was served for. */
  readonly p: string;
  /** Proof-of-work difficulty in leading zero bits (browser provider). */
  readonly d: number;
  /** 16 random bytes, base64url: the replay guard's key. */
  readonly n: string;
  /** Expiry, epoch seconds. */
  readonly e: number;
}

export interface ChallengeTokenRequest extends Visitor {
  /** Path and query of the challenged request; replaced by `/` unless same-origin. */
  readonly returnUrl: string;
  readonly provider: string;
  readonly difficulty: number;
}

export type ChallengeTokenCheck =
  | { readonly ok: true; readonly token: ChallengeToken }
  | {
      readonly ok: false;
      readonly why: 'forged' | 'expired' | 'other_site' | 'other_visitor' | 'replayed';
    };

export function issueChallengeToken(keys: SigningKeys, request: ChallengeTokenRequest): string {
  const token: ChallengeToken = {
    v: 1,
    site: request.site,
    b: request.binding,
    u: toReturnUrl(request.returnUrl),
    p: request.provider,
    d: request.difficulty,
    n: randomBytes(16).toString('base64url'),
    e: Math.floor((request.nowMs + CHALLENGE_TOKEN_TTL_MS) / 1000),
  };
  const text = sign(keys, 'token', token);
  return text.length <= MAX_CHALLENGE_TOKEN_LENGTH
    ? text
    : sign(keys, 'token', { ...token, u: '/' });
}

/**
 * Checks a token without redeeming it, so a token already redeemed is refused before any costly
 * solution check; once the solution passed, the caller calls redeemChallengeToken.
 */
export function verifyChallengeToken(
  keys: SigningKeys,
  text: string,
  expected: Visitor,
  guard: ReplayGuard,
): ChallengeTokenCheck {
  const token = toChallengeToken(verify(keys, 'token', text));
  if (!token) return { ok: false, why: 'forged' };
  if (token.site !== expected.site) return { ok: false, why: 'other_site' };
  if (token.b !== expected.binding) return { ok: false, why: 'other_visitor' };
  if (token.e * 1000 <= expected.nowMs) return { ok: false, why: 'expired' };
  if (guard.has(token.n, expected.nowMs)) return { ok: false, why: 'replayed' };
  return { ok: true, token };
}

/**
 * Marks a verified token used, once its solution passed: `replayed` when another request
 * redeemed it meanwhile (a captcha check is asynchronous; redemption is not, so one wins).
 */
export function redeemChallengeToken(
  token: ChallengeToken,
  guard: ReplayGuard,
  nowMs: number,
): ChallengeTokenCheck {
  return guard.redeem(token.n, token.e * 1000, nowMs)
    ? { ok: true, token }
    : { ok: false, why: 'replayed' };
}

function toChallengeToken(
  payload: Record<string, unknown> | undefined,
): ChallengeToken | undefined {
  if (!payload) return undefined;
  const { v, site, b, u, p, d, n, e } = payload;
  if (
    v !== 1 ||
    typeof site !== 'string' ||
    typeof b !== 'string' ||
    typeof u !== 'string' ||
    typeof p !== 'string' ||
    !Number.isInteger(d) ||
    typeof n !== 'string' ||
    !Number.isInteger(e)
  ) {
    return undefined;
  }
  return { v, site, b, u: toReturnUrl(u), p, d: d as number, n, e: e as number };
}
