// The challenge providers: what the challenge page needs to show each captcha widget (script,
// CSP sources, element) and where its answer is verified. `browser` is our own proof of work:
// no widget, no third party, no verify call.

import { hcaptcha } from './hcaptcha';
import { recaptchaV2, recaptchaV3 } from './recaptcha';
import { turnstile } from './turnstile';
import type { CaptchaProvider } from './captcha-provider';
import type { CaptchaProviderName, ChallengeProviderName } from './challenge-provider-name';

export const CAPTCHA_PROVIDERS: Readonly<Record<CaptchaProviderName, CaptchaProvider>> = {
  turnstile,
  hcaptcha,
  'recaptcha-v2': recaptchaV2,
  'recaptcha-v3': recaptchaV3,
};

/** The captcha provider of a challenge_provider value; undefined for `browser`. */
export function captchaProvider(name: ChallengeProviderName): CaptchaProvider | undefined {
  return name === 'browser' ? undefined : CAPTCHA_PROVIDERS[name];
}
