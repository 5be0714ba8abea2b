// The challenge_provider values: `browser` (our own proof of work) and the captcha providers.

export const CHALLENGE_PROVIDER_NAMES = [
  'browser',
  'turnstile',
  'hcaptcha',
  'recaptcha-v2',
  'recaptcha-v3',
] as const;

/** The challenge_provider setting's values. */
export type ChallengeProviderName = (typeof CHALLENGE_PROVIDER_NAMES)[number];

/** The providers whose widget answers with a token that their siteverify API judges. */
export type CaptchaProviderName = Exclude<ChallengeProviderName, 'browser'>;
