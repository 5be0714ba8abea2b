import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import {
  checkProofOfWork,
  isDifficulty,
  leadingZeroBits,
  MAX_SOLUTION_LENGTH,
} from '../../../src/challenge/proof-of-work';

const TOKEN = 'eyJ2IjoxfQ.c2lnbmF0dXJl';

function zeroBits(token: string, solution: string): number {
  return leadingZeroBits(createHash('sha256').update(`${token}.${solution}`).digest());
}

/** The first solution of the form `shape(i)` with exactly `bits` leading zero bits. */
function solveExactly(bits: number, shape = (i: number) => i.toString(36), token = TOKEN): string {
  for (let i = 0; ; i++) if (zeroBits(token, shape(i)) === bits) return shape(i);
}

describe('proof of work', () => {
  it('counts leading zero bits', () => {
    assert.equal(leadingZeroBits(Uint8Array.of(0x80)), 0);
    assert.equal(leadingZeroBits(Uint8Array.of(0x01)), 7);
    assert.equal(leadingZeroBits(Uint8Array.of(0x00, 0x00, 0x10)), 19);
    assert.equal(leadingZeroBits(Uint8Array.of(0x00, 0x00)), 16);
  });

  it('accepts a solution with d zero bits and refuses it for d + 1', () => {
    const solution = solveExactly(10);
    assert.equal(checkProofOfWork(TOKEN, solution, 10), true);
    assert.equal(checkProofOfWork(TOKEN, solution, 9), true);
    assert.equal(checkProofOfWork(TOKEN, solution, 11), false);
  });

  it('binds the work to the token', () => {
    const solution = solveExactly(8);
    const other = `${TOKEN}x`;
    assert.equal(checkProofOfWork(TOKEN, solution, 8), true);
    assert.equal(checkProofOfWork(other, solution, 8), false);
  });

  it('bounds the difficulty to 8..24', () => {
    assert.deepEqual([7, 8, 16, 24, 25, 16.5, Number.NaN].map(isDifficulty), [
      false,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
    // Work good for 8 bits does not pass a difficulty below the floor.
    assert.equal(checkProofOfWork(TOKEN, solveExactly(8), 7), false);
  });

  it('refuses a solution that does the work but is too long or has odd characters', () => {
    const long = solveExactly(8, i => i.toString(36).padStart(MAX_SOLUTION_LENGTH + 1, '0'));
    const atBound = solveExactly(8, i => i.toString(36).padStart(MAX_SOLUTION_LENGTH, '0'));
    const dotted = solveExactly(8, i => `${i}.`);
    const spaced = solveExactly(8, i => `${i} `);
    assert.equal(checkProofOfWork(TOKEN, long, 8), false);
    assert.equal(checkProofOfWork(TOKEN, atBound, 8), true);
    assert.equal(checkProofOfWork(TOKEN, dotted, 8), false);
    assert.equal(checkProofOfWork(TOKEN, spaced, 8), false);
    assert.equal(checkProofOfWork(TOKEN, '', 8), false);
  });
});
