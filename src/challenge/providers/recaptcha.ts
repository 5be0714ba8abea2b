// Google reCAPTCHA v2 (the checkbox widget) and v3 (no widget: the page asks for a scored token
// with an action name). developers.google.com/recaptcha (display, v3, verify, FAQ on CSP).

import type { CaptchaProvider, WidgetCsp } from './captcha-provider';
import { WIDGET_ACTION } from './captcha-provider';
import { checkedSiteKey } from './site-key';

const API_JS = 'https://www.google.com/recaptcha/api.js';
const SITEVERIFY_URL = 'https://www.google.com/recaptcha/api/siteverify';

const CSP: WidgetCsp = {
  scriptSrc: ['https://www.google.com/recaptcha/', 'https://www.gstatic.com/recaptcha/'],
  frameSrc: ['https://www.google.com/recaptcha/', 'https://recaptcha.google.com/recaptcha/'],
  styleSrc: [],
  connectSrc: [],
};

export const recaptchaV2: CaptchaProvider = {
  name: 'recaptcha-v2',
  scriptUrl: () => API_JS,
  csp: CSP,
  widgetHtml: siteKey =>
    `<div class="g-recaptcha" data-sitekey="${checkedSiteKey(siteKey)}"></div>`,
  responseField: 'g-recaptcha-response',
  execute: false,
  siteverifyUrl: SITEVERIFY_URL,
  checksSiteKey: false,
  action: undefined,
  scored: false,
};

export const recaptchaV3: CaptchaProvider = {
  name: 'recaptcha-v3',
  // grecaptcha.execute(key) works only for the key api.js was loaded to render.
  scriptUrl: siteKey => `${API_JS}?render=${checkedSiteKey(siteKey)}`,
  csp: CSP,
  widgetHtml: () => '',
  responseField: 'g-recaptcha-response',
  execute: true,
  siteverifyUrl: SITEVERIFY_URL,
  checksSiteKey: false,
  action: WIDGET_ACTION,
  scored: true,
};
