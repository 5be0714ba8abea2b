// hCaptcha: docs.hcaptcha.com (widget, siteverify, CSP: hcaptcha.com and its subdomains for
// scripts, frames, styles and connections). It takes no action name.

import type { CaptchaProvider } from './captcha-provider';
import { checkedSiteKey } from './site-key';

const SOURCES = ['https://hcaptcha.com', 'https://*.hcaptcha.com'];

export const hcaptcha: CaptchaProvider = {
  name: 'hcaptcha',
  scriptUrl: () => 'https://js.hcaptcha.com/1/api.js',
  csp: { scriptSrc: SOURCES, frameSrc: SOURCES, styleSrc: SOURCES, connectSrc: SOURCES },
  widgetHtml: siteKey => `<div class="h-captcha" data-sitekey="${checkedSiteKey(siteKey)}"></div>`,
  responseField: 'h-captcha-response',
  execute: false,
  siteverifyUrl: 'https://api.hcaptcha.com/siteverify',
  checksSiteKey: true,
  action: undefined,
  scored: false,
};
