// The served challenge's settings of one site, as the decision core reads them.

import type { SigningKeys } from '../challenge/signing-keys';
import type { ChallengeProviderName } from './decision';

export interface ChallengeSettings {
  /** challenge_secret signs and verifies; challenge_previous_secret only verifies. */
  readonly keys: SigningKeys;
  readonly provider: ChallengeProviderName;
  /** The captcha provider's public site key ('' for `browser`). */
  readonly siteKey: string;
  /** Proof-of-work leading zero bits (`browser`). */
  readonly difficulty: number;
  readonly passTtlS: number;
  /** challenge_path; the verify request goes to `${path}/verify`. */
  readonly path: string;
  /** Budget of a captcha provider's verify call (the proxy's deadline may cut it shorter). */
  readonly verifyTimeoutMs: number;
}
