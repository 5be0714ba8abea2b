import { strict as assert } from 'node:assert';
import {
  createSigningKeys,
  MIN_SECRET_BYTES,
  secretProblem,
  SigningKeyError,
} from '../../../src/challenge/signing-keys';

describe('createSigningKeys', () => {
  it('accepts a 32-byte current secret and no previous one', () => {
    const keys = createSigningKeys('x'.repeat(MIN_SECRET_BYTES));
    assert.equal(keys.current.length, 32);
    assert.equal(keys.previous, undefined);
  });

  it('treats an empty previous secret as none (no rotation under way)', () => {
    assert.equal(createSigningKeys('x'.repeat(40), '').previous, undefined);
  });

  it('refuses a 31-byte secret, naming the setting and not echoing the value', () => {
    const secret = 'hunter2-hunter2-hunter2-hunter2';
    assert.equal(secret.length, 31);
    assert.throws(
      () => createSigningKeys(secret),
      (err: unknown) =>
        err instanceof SigningKeyError &&
        err.code === 'CHALLENGE_SECRET_TOO_SHORT' &&
        err.setting === 'challenge_secret' &&
        err.message.includes('challenge_secret') &&
        !err.message.includes('hunter2'),
    );
  });

  it('refuses a short previous secret under its own setting name', () => {
    assert.throws(
      () => createSigningKeys('x'.repeat(32), 'short-previous'),
      (err: unknown) =>
        err instanceof SigningKeyError &&
        err.setting === 'challenge_previous_secret' &&
        !err.message.includes('short-previous'),
    );
  });

  it('counts bytes, not characters: 11 three-byte characters are 33 bytes', () => {
    assert.doesNotThrow(() => createSigningKeys('€'.repeat(11)));
    assert.throws(() => createSigningKeys('€'.repeat(10)), SigningKeyError);
  });

  it('secretProblem reports for config validation without throwing', () => {
    assert.equal(secretProblem('challenge_secret', 'y'.repeat(32)), undefined);
    assert.equal(
      secretProblem('challenge_secret_file', 'tiny'),
      'challenge_secret_file must be at least 32 bytes long',
    );
  });
});
