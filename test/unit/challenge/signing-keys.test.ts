import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import {
  createSigningKeys,
  MIN_SECRET_BYTES,
  secretProblem,
  SigningKeyError,
} from '../../../src/challenge/signing-keys';

describe('createSigningKeys', () => {
  it('accepts a 32-byte current secret and no previous one', () => {
    const secret = 'x'.repeat(MIN_SECRET_BYTES);
    const keys = createSigningKeys(secret);
    assert.deepEqual(keys.mac('m'), createHmac('sha256', secret).update('m').digest());
    assert.equal(keys.rotating, false);
  });

  it('treats an empty previous secret as none (no rotation under way)', () => {
    assert.equal(createSigningKeys('x'.repeat(40), '').rotating, false);
    assert.equal(createSigningKeys('x'.repeat(40), 'y'.repeat(40)).rotating, true);
  });

  it('signs with the current key and verifies with either, in constant time', () => {
    const current = 'c'.repeat(40);
    const previous = 'p'.repeat(40);
    const keys = createSigningKeys(current, previous);
    const byPrevious = createHmac('sha256', previous).update('m').digest();
    assert.deepEqual(keys.mac('m'), createHmac('sha256', current).update('m').digest());
    assert.equal(keys.matches('m', keys.mac('m')), true);
    assert.equal(keys.matches('m', byPrevious), true);
    assert.equal(keys.matches('other', byPrevious), false);
    assert.equal(keys.matches('m', byPrevious.subarray(0, 31)), false, 'short MAC: no throw');
    assert.equal(keys.matches('m', Buffer.alloc(0)), false);
  });

  it('shows nothing of the key bytes when logged or serialised', () => {
    const current = 'current-secret-'.repeat(3);
    const previous = 'previous-secret-'.repeat(3);
    const keys = createSigningKeys(current, previous);
    const shown = [
      inspect(keys, { showHidden: true, depth: 5 }),
      JSON.stringify({ keys }),
      JSON.stringify(Object.entries(keys)),
    ].join('\n');
    for (const secret of [current, previous]) {
      const bytes = Buffer.from(secret);
      const array = [...bytes.subarray(0, 16)].join(',');
      for (const form of [secret, bytes.toString('hex'), bytes.toString('base64'), array]) {
        assert.equal(shown.includes(form.slice(0, 16)), false, form);
      }
    }
    assert.equal(shown.includes(' 63 75 72 72'), false, 'no Buffer dump of "curr"');
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
