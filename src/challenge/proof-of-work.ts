// The browser provider's proof of work, checked on the server: the page must find a solution
// `s` such that SHA-256(token "." s) starts with `d` zero bits (about 2^d hashes of work).

import { createHash } from 'node:crypto';

/** Bounds of `challenge_difficulty`: below 8 the work is nothing, above 24 a phone takes minutes. */
export const MIN_DIFFICULTY = 8;
export const MAX_DIFFICULTY = 24;
export const DEFAULT_DIFFICULTY = 16;

/** Longest solution accepted; the page's counter never needs more. */
export const MAX_SOLUTION_LENGTH = 32;

const SOLUTION = /^[0-9A-Za-z_-]+$/;

export function isDifficulty(value: number): boolean {
  return Number.isInteger(value) && value >= MIN_DIFFICULTY && value <= MAX_DIFFICULTY;
}

/**
 * Whether `solution` proves `difficulty` bits of work on `token` (the token's full signed
 * text). False for a difficulty out of bounds and for a solution that is empty, longer than
 * MAX_SOLUTION_LENGTH or not in [0-9A-Za-z_-]. Never throws.
 */
export function checkProofOfWork(token: string, solution: string, difficulty: number): boolean {
  if (!isDifficulty(difficulty)) return false;
  if (solution.length > MAX_SOLUTION_LENGTH || !SOLUTION.test(solution)) return false;
  return (
    leadingZeroBits(createHash('sha256').update(`${token}.${solution}`).digest()) >= difficulty
  );
}

export function leadingZeroBits(bytes: Uint8Array): number {
  let bits = 0;
  for (const byte of bytes) {
    if (byte !== 0) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}
