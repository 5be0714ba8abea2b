// The port through which the decision core has a captcha provider check a visitor's answer
// (turnstile, hcaptcha, recaptcha-v2, recaptcha-v3). Implementations live in ./providers/; each
// is built for one site with its provider secret, verify URL and minimum score.

import type { ChallengeProviderName } from '../core/decision';

/** The captcha providers: every provider but our own `browser` proof of work. */
export type CaptchaProviderName = Exclude<ChallengeProviderName, 'browser'>;

/**
 * Why a provider's answer did not pass. `timeout` and `unavailable` (unreachable, 5xx, an answer
 * that is no verify result) are the provider's failures, counted apart from a visitor's:
 * the verify fails closed for that request either way (the visitor sees the page again).
 */
export type VerifyFailure = 'rejected' | 'low_score' | 'timeout' | 'unavailable';

export interface VerifyResult {
  readonly ok: boolean;
  /** recaptcha-v3's score, 0-1. */
  readonly score?: number;
  /** Set when `ok` is false. */
  readonly why?: VerifyFailure;
}

export interface ChallengeVerifier {
  /**
   * Asks the provider whether `response` (the widget's token, up to 4 KB, from the client) is a
   * pass, within `budgetMs`. Never rejects: every failure is a result with `why`.
   */
  verify(
    provider: CaptchaProviderName,
    response: string,
    remoteIp: string | undefined,
    budgetMs: number,
  ): Promise<VerifyResult>;
}
