// Cloudflare Turnstile: developers.cloudflare.com/turnstile (widget configurations, server-side
// validation, reference/content-security-policy).

import type { CaptchaProvider } from './captcha-provider';
import { WIDGET_ACTION } from './captcha-provider';
import { checkedSiteKey } from './site-key';

const ORIGIN = 'https://challenges.cloudflare.com';

export const turnstile: CaptchaProvider = {
  name: 'turnstile',
  scriptUrl: () => `${ORIGIN}/turnstile/v0/api.js`,
  csp: { scriptSrc: [ORIGIN], frameSrc: [ORIGIN], styleSrc: [], connectSrc: [] },
  widgetHtml: siteKey =>
    `<div class="cf-turnstile" data-sitekey="${checkedSiteKey(siteKey)}" ` +
    `data-action="${WIDGET_ACTION}"></div>`,
  responseField: 'cf-turnstile-response',
  execute: false,
  siteverifyUrl: `${ORIGIN}/turnstile/v0/siteverify`,
  checksSiteKey: false,
  action: WIDGET_ACTION,
  scored: false,
};
