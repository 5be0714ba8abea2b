// The port through which the challenge flow asks a captcha provider about a visitor's answer.
// Implemented by providers/siteverify-client; the decision core sees only this shape.

import type { ChallengeProviderName } from './providers/challenge-provider-name';

export type VerifyResult =
  | { ok: true; score?: number }
  | { ok: false; why: 'rejected' | 'low_score' | 'timeout' | 'unavailable' | 'bad_answer' };

export interface ChallengeVerifier {
  verify(request: {
    provider: ChallengeProviderName;
    response: string;
    remoteIp: string | undefined;
    budgetMs: number;
    /** The host the challenge was served on: an answer naming another hostname is refused. */
    hostname?: string;
  }): Promise<VerifyResult>;
}
