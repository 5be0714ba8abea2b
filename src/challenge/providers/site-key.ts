// What a captcha site key may look like. Every provider's keys are letters, digits, `-` and `_`
// (Turnstile 0x4AAA..., hCaptcha UUIDs, reCAPTCHA 6Le...), so one checked at load time is safe
// in an HTML attribute and a URL without escaping.

const SITE_KEY = /^[A-Za-z0-9_-]{1,128}$/;

/** Whether `text` can be a captcha site key (for the challenge_site_key setting's format). */
export function isSiteKey(text: string): boolean {
  return SITE_KEY.test(text);
}

/** `siteKey`, when it is one; throws otherwise (config validation keeps other text out). */
export function checkedSiteKey(siteKey: string): string {
  if (!isSiteKey(siteKey)) {
    throw new RangeError('challenge_site_key must be 1-128 letters, digits, - or _');
  }
  return siteKey;
}
