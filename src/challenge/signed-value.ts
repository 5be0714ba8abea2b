// Signed values carried by the client (challenge token, pass cookie, landing grant):
// base64url(JSON payload) "." base64url(HMAC-SHA256(key, purpose "." encoded payload)).
// The purpose is inside the MAC, so one kind never verifies as another.

import type { SigningKeys } from './signing-keys';

export type SignedValuePurpose = 'token' | 'pass' | 'grant';

/**
 * Longest text verify() reads; anything longer is refused before any hashing. Tokens are issued
 * up to 2 KB (challenge-token.ts); a grant carries a token's return URL, a pass less.
 */
export const MAX_SIGNED_VALUE_LENGTH = 4096;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function sign(keys: SigningKeys, purpose: SignedValuePurpose, payload: object): string {
  const encoded = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  return `${encoded}.${keys.mac(`${purpose}.${encoded}`).toString('base64url')}`;
}

/**
 * The payload of a value signed for `purpose` with the current or the previous key, or
 * undefined for anything else (wrong key or purpose, malformed, too long, not a JSON object).
 * Never throws: the text comes from the client.
 */
export function verify(
  keys: SigningKeys,
  purpose: SignedValuePurpose,
  text: string,
): Record<string, unknown> | undefined {
  if (text.length > MAX_SIGNED_VALUE_LENGTH) return undefined;
  const dot = text.indexOf('.');
  if (dot <= 0) return undefined;
  const encoded = text.slice(0, dot);
  const macText = text.slice(dot + 1);
  if (!BASE64URL.test(encoded) || !BASE64URL.test(macText)) return undefined;
  const given = Buffer.from(macText, 'base64url');
  // Canonical form only: base64url decoding ignores stray trailing bits, which would otherwise
  // let several texts carry one MAC.
  if (given.toString('base64url') !== macText) return undefined;
  if (!keys.matches(`${purpose}.${encoded}`, given)) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    return isRecord(payload) ? payload : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
