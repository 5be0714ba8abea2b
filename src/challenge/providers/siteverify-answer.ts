// Reads a siteverify answer (Turnstile, hCaptcha and reCAPTCHA share its shape: success,
// error-codes, hostname, action, score) into a VerifyResult. Pure: no I/O, never throws.

import type { VerifyResult } from '../challenge-verifier';
import type { CaptchaProvider } from './captcha-provider';

/**
 * Error codes that say our own configuration is wrong, not the visitor's answer: judged
 * `unavailable` (the provider could not judge), so a bad secret is not taken for a bot.
 */
const CONFIGURATION_ERRORS: ReadonlySet<string> = new Set([
  'missing-input-secret',
  'invalid-input-secret',
  'sitekey-secret-mismatch',
  'internal-error',
]);

export interface AnswerExpectations {
  readonly provider: CaptchaProvider;
  /** The host the challenge was served on; a different `hostname` in the answer is refused. */
  readonly hostname: string | undefined;
  /** The lowest score that passes, for a scored provider (reCAPTCHA v3). */
  readonly minScore: number;
}

/** Judges the text of a siteverify answer. */
export function judgeSiteverifyAnswer(text: string, expect: AnswerExpectations): VerifyResult {
  const answer = parseObject(text);
  if (answer === undefined || typeof answer['success'] !== 'boolean') return badAnswer;
  const { success, hostname, action, score } = answer;
  const errorCodes = answer['error-codes'];
  if (!success) {
    const codes = Array.isArray(errorCodes) ? errorCodes : [];
    return codes.some(code => typeof code === 'string' && CONFIGURATION_ERRORS.has(code))
      ? { ok: false, why: 'unavailable' }
      : rejected;
  }
  if (!isOptionalString(hostname) || !isOptionalString(action)) return badAnswer;
  if (hostname && expect.hostname !== undefined && !sameHost(hostname, expect.hostname)) {
    return rejected;
  }
  // An action other than ours is a token minted for another widget under the same key.
  if (action && expect.provider.action !== undefined && action !== expect.provider.action) {
    return rejected;
  }
  if (!expect.provider.scored) return { ok: true };
  if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return badAnswer;
  return score < expect.minScore ? { ok: false, why: 'low_score' } : { ok: true, score };
}

const badAnswer: VerifyResult = { ok: false, why: 'bad_answer' };
const rejected: VerifyResult = { ok: false, why: 'rejected' };

function parseObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function isOptionalString(value: unknown): value is string | undefined {
  return value === undefined || typeof value === 'string';
}

/** Host names compared as DNS does: case-insensitive, a trailing dot and our port ignored. */
function sameHost(answered: string, served: string): boolean {
  return normalHost(answered) === normalHost(served.replace(/:\d+$/, ''));
}

function normalHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}
