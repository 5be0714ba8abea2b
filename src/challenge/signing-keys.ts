// The challenge's HMAC keys: the current secret signs and verifies, the previous one (during a
// rotation) only verifies. Pure: no config, logging or transport imports.

/** Shortest accepted secret, in bytes: HMAC-SHA256's block-strength floor (RFC 2104 §3). */
export const MIN_SECRET_BYTES = 32;

export interface SigningKeys {
  /** Signs every new value and verifies first. */
  readonly current: Buffer;
  /** Verifies only, so passes signed before a rotation stay valid until they expire. */
  readonly previous: Buffer | undefined;
}

/** A secret that cannot be used; the message names the setting and never contains the value. */
export class SigningKeyError extends Error {
  readonly code = 'CHALLENGE_SECRET_TOO_SHORT';
  constructor(readonly setting: string) {
    super(`${setting} must be at least ${MIN_SECRET_BYTES} bytes long`);
    this.name = 'SigningKeyError';
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
  return Object.freeze({
    current: Buffer.from(current, 'utf8'),
    previous: previous ? Buffer.from(previous, 'utf8') : undefined,
  });
}
