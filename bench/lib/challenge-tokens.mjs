// @ts-check
// What the challenge phase reads from our server's answers and does as the browser would: the
// token of a served challenge page, the pass cookie of a passed verify, and the proof of work
// the page's script finds (done here, before a measured window, for every token it verifies).

import { createHash } from 'node:crypto';
import { leadingZeroBits } from '../../dist/challenge/proof-of-work.js';
import { PASS_COOKIE_NAME } from '../../dist/challenge/pass-cookie.js';

/**
 * The signed token a challenge page carries in its `data-token` attribute; throws when the
 * page has none (the answer was not a challenge page).
 * @param {string} html
 */
export function tokenOfPage(html) {
  const token = /\sdata-token="([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"/.exec(html)?.[1];
  if (token === undefined) throw new Error('no challenge token in the page');
  return token;
}

/**
 * `_cq_se=<value>` from the Set-Cookie headers of a passed verify, as the browser sends it
 * back; throws when there is none.
 * @param {string | string[] | undefined} setCookie
 */
export function passCookieOf(setCookie) {
  for (const line of [setCookie ?? []].flat()) {
    const pair = line.split(';', 1)[0]?.trim() ?? '';
    if (pair.startsWith(`${PASS_COOKIE_NAME}=`) && pair.length > PASS_COOKIE_NAME.length + 1) {
      return pair;
    }
  }
  throw new Error(`no ${PASS_COOKIE_NAME} cookie in the answer`);
}

/**
 * The solution the page's proof of work finds: the first counter (base 36) such that
 * SHA-256(token "." counter) starts with `difficulty` zero bits.
 * @param {string} token
 * @param {number} difficulty
 */
export function solveProofOfWork(token, difficulty) {
  for (let counter = 0; ; counter++) {
    const solution = counter.toString(36);
    const digest = createHash('sha256').update(`${token}.${solution}`).digest();
    if (leadingZeroBits(digest) >= difficulty) return solution;
  }
}
