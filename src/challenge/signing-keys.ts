// The challenge's HMAC keys: the current secret signs and verifies, the previous one (during a
// rotation) only verifies. The key bytes never leave this class: a SigningKeys that reaches a
// log line or a JSON dump shows nothing of them. Pure: no config, logging or transport imports.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

/** Shortest accepted secret, in bytes: HMAC-SHA256's block-strength floor (RFC 2104 §3). */
export const MIN_SECRET_BYTES = 32;

/** A secret that cannot be used; the message names the setting and never contains the value. */
export class SigningKeyError extends Error {
  readonly code = 'CHALLENGE_SECRET_TOO_SHORT';
  constructor(readonly setting: string) {
    super(`${setting} must be at least ${MIN_SECRET_BYTES} bytes long`);
    this.name = 'SigningKeyError';
  }
}

export class SigningKeys {
  readonly #current: Buffer;
  readonly #previous: Buffer | undefined;

  /** Use createSigningKeys, which checks the secrets. */
  private constructor(current: Buffer, previous: Buffer | undefined) {
    this.#current = current;
    this.#previous = previous;
  }

  static create(current: string, previous: string | undefined): SigningKeys {
    return new SigningKeys(
      Buffer.from(current, 'utf8'),
      previous ? Buffer.from(previous, 'utf8') : undefined,
    );
  }

  /** Whether a previous secret still verifies (a rotation is under way). */
  get rotating(): boolean {
    return this.#previous !== undefined;
  }

  /** HMAC-SHA256 of `message` with the current key. */
  mac(message: string): Buffer {
    return hmac(this.#current, message);
  }

  /** Whether `mac` is the HMAC of `message` under the current or the previous key, in constant time. */
  matches(message: string, mac: Buffer): boolean {
    if (mac.length !== 32) return false;
    if (timingSafeEqual(hmac(this.#current, message), mac)) return true;
    return this.#previous !== undefined && timingSafeEqual(hmac(this.#previous, message), mac);
  }

  toJSON(): string {
    return '[SigningKeys]';
  }

  [inspect.custom](): string {
    return '[SigningKeys]';
  }
}

/**
 * Problem with one secret setting, or undefined when it can be used; for config validation that
 * lists every problem at once. Length is counted in UTF-8 bytes, as HMAC sees the key.
 */
export function secretProblem(setting: string, secret: string): string | undefined {
  return Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES
    ? new SigningKeyError(setting).message
    : undefined;
}

/**
 * @param current `challenge_secret` (or the contents of `challenge_secret_file`)
 * @param previous `challenge_previous_secret`; empty or undefined when no rotation is under way
 * @throws SigningKeyError when a secret is shorter than MIN_SECRET_BYTES
 */
export function createSigningKeys(current: string, previous?: string): SigningKeys {
  if (secretProblem('challenge_secret', current)) throw new SigningKeyError('challenge_secret');
  if (previous && secretProblem('challenge_previous_secret', previous)) {
    throw new SigningKeyError('challenge_previous_secret');
  }
  return SigningKeys.create(current, previous);
}

function hmac(key: Buffer, message: string): Buffer {
  return createHmac('sha256', key).update(message).digest();
}
