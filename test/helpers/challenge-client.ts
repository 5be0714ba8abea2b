// What a browser does with the served challenge page, for tests without a browser: reads the
// token out of the page, and finds the proof of work the way the page's script does.

import { checkProofOfWork } from '../../src/challenge/proof-of-work';

/** The signed token in a challenge page (`data-token`, base64url and dots: nothing escaped). */
export function tokenOf(page: string): string {
  const token = /data-token="([A-Za-z0-9_.-]+)"/.exec(page)?.[1];
  if (token === undefined) throw new Error('no data-token in the page');
  return token;
}

/** The difficulty the page asks for (`data-difficulty`). */
export function difficultyOf(page: string): number {
  return Number(/data-difficulty="(\d+)"/.exec(page)?.[1]);
}

/** A solution of `difficulty` bits for `token`: base-36 counters, as the page counts. */
export function solveProofOfWork(token: string, difficulty: number): string {
  for (let i = 0; ; i++) {
    const solution = i.toString(36);
    if (checkProofOfWork(token, solution, difficulty)) return solution;
  }
}

/** The verify request's path and query for a page. */
export function verifyTarget(page: string, challengePath = '/_cheq/challenge'): string {
  const token = tokenOf(page);
  const solution = solveProofOfWork(token, difficultyOf(page));
  return `${challengePath}/verify?t=${encodeURIComponent(token)}&s=${solution}`;
}
