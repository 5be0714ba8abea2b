import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { MAX_SIGNED_VALUE_LENGTH, sign, verify } from '../../../src/challenge/signed-value';
import { KEYS, OTHER, ROTATED, SECRET_A } from './keys';

const PAYLOAD = { v: 1, site: 'shop', e: 1_800_000_000 };

describe('signed values', () => {
  it('round-trips a payload for its purpose', () => {
    assert.deepEqual(verify(KEYS, 'pass', sign(KEYS, 'pass', PAYLOAD)), PAYLOAD);
  });

  it('has the documented layout: base64url(JSON) "." base64url(HMAC(purpose "." payload))', () => {
    const text = sign(KEYS, 'grant', PAYLOAD);
    const [encoded, mac] = text.split('.') as [string, string];
    assert.deepEqual(JSON.parse(Buffer.from(encoded, 'base64url').toString()), PAYLOAD);
    const expected = createHmac('sha256', SECRET_A).update(`grant.${encoded}`).digest('base64url');
    assert.equal(mac, expected);
  });

  it('never verifies one purpose as another', () => {
    const pass = sign(KEYS, 'pass', PAYLOAD);
    assert.equal(verify(KEYS, 'token', pass), undefined);
    assert.equal(verify(KEYS, 'grant', pass), undefined);
  });

  it('refuses a value signed with another key', () => {
    assert.equal(verify(KEYS, 'pass', sign(OTHER, 'pass', PAYLOAD)), undefined);
  });

  it('verifies with the previous key during a rotation, and signs only with the current one', () => {
    const beforeRotation = sign(KEYS, 'pass', PAYLOAD);
    assert.deepEqual(verify(ROTATED, 'pass', beforeRotation), PAYLOAD);
    const afterRotation = sign(ROTATED, 'pass', PAYLOAD);
    assert.notEqual(afterRotation, beforeRotation);
    assert.equal(verify(KEYS, 'pass', afterRotation), undefined, 'old key does not verify new');
  });

  it('refuses a payload changed after signing', () => {
    const [, mac] = sign(KEYS, 'pass', PAYLOAD).split('.') as [string, string];
    const changed = Buffer.from(JSON.stringify({ ...PAYLOAD, e: 9_999_999_999 })).toString(
      'base64url',
    );
    assert.equal(verify(KEYS, 'pass', `${changed}.${mac}`), undefined);
  });

  it('refuses a MAC with altered trailing bits that decodes to the same bytes', () => {
    const text = sign(KEYS, 'pass', PAYLOAD);
    // 32 bytes in base64url: 43 characters, the last carrying 2 unused bits.
    const last = text.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[alphabet.indexOf(last) ^ 1] as string;
    const altered = text.slice(0, -1) + twin;
    assert.deepEqual(
      Buffer.from(altered.split('.')[1] as string, 'base64url'),
      Buffer.from(text.split('.')[1] as string, 'base64url'),
    );
    assert.equal(verify(KEYS, 'pass', altered), undefined);
  });

  it('refuses every one-character change of a valid value', () => {
    const text = sign(KEYS, 'token', { v: 1, site: 'shop', u: '/cart?x=1', e: 1_800_000_000 });
    let changes = 0;
    for (let i = 0; i < text.length; i++) {
      for (const replacement of ['A', 'z', '-', '.', '=']) {
        if (text[i] === replacement) continue;
        const changed = text.slice(0, i) + replacement + text.slice(i + 1);
        assert.equal(verify(KEYS, 'token', changed), undefined, `position ${i} -> ${replacement}`);
        changes++;
      }
    }
    assert.ok(changes > text.length * 4);
  });

  it('returns undefined, never throws, for malformed input', () => {
    const good = sign(KEYS, 'pass', PAYLOAD);
    const notObject = (json: string): string => {
      const encoded = Buffer.from(json).toString('base64url');
      return `${encoded}.${createHmac('sha256', SECRET_A).update(`pass.${encoded}`).digest('base64url')}`;
    };
    const inputs = [
      '',
      '.',
      'abc',
      '.abc',
      'abc.',
      good.replace('.', ''),
      `${good}.extra`,
      good.replace('.', '.+'),
      `${good}=`,
      'é.é',
      '\u0000.\u0000',
      notObject('[1,2]'),
      notObject('null'),
      notObject('"text"'),
      notObject('{"unterminated'),
      'a'.repeat(MAX_SIGNED_VALUE_LENGTH + 1),
      `${'A'.repeat(MAX_SIGNED_VALUE_LENGTH)}.${good.split('.')[1] as string}`,
    ];
    for (const input of inputs) {
      assert.equal(verify(KEYS, 'pass', input), undefined, JSON.stringify(input.slice(0, 40)));
    }
    assert.ok(notObject('{}').length < MAX_SIGNED_VALUE_LENGTH);
    assert.deepEqual(verify(KEYS, 'pass', notObject('{}')), {});
  });
});
