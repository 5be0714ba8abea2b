// Google reCAPTCHA v2 (the checkbox widget) and v3 (no widget: the page asks for a scored token
// with an action name). developers.google.com/recaptcha (display, v3, verify, FAQ on CSP).

import type { CaptchaProvider, WidgetCsp } from './captcha-provider';
import { WIDGET_ACTION, WIDGET_CALLBACK } from './captcha-provider';
import { checkedSiteKey } from './site-key';

const API_JS = 'https://www.google.com/recaptcha/api.js';
const SITEVERIFY_URL = 'https://www.google.com/recaptcha/api/siteverify';

const CSP: WidgetCsp = {
  scriptSrc: ['https://www.google.com/recaptcha/', 'https://www.gstatic.com/recaptcha/'],
  frameSrc: ['https://www.google.com/recaptcha/', 'https://recaptcha.google.com/recaptcha/'],
  styleSrc: [],
  connectSrc: [],
};

/** Called by api.js once loaded (its `onload` parameter): asks for a v3 token. */
const V3_ONLOAD = 'cheqRecaptchaLoaded';
const V3_ELEMENT_ID = 'cq-recaptcha';

export const recaptchaV2: CaptchaProvider = {
  name: 'recaptcha-v2',
  scriptUrl: () => API_JS,
  csp: CSP,
  widgetHtml: siteKey =>
    `<div class="g-recaptcha" data-sitekey="${checkedSiteKey(siteKey)}" ` +
    `data-callback="${WIDGET_CALLBACK}"></div>`,
  responseField: 'g-recaptcha-response',
  inlineScript: undefined,
  siteverifyUrl: SITEVERIFY_URL,
  checksSiteKey: false,
  action: undefined,
  scored: false,
};

export const recaptchaV3: CaptchaProvider = {
  name: 'recaptcha-v3',
  scriptUrl: siteKey => `${API_JS}?render=${checkedSiteKey(siteKey)}&onload=${V3_ONLOAD}`,
  csp: CSP,
  // Nothing to click: the element only carries the key to the inline script.
  widgetHtml: siteKey =>
    `<div id="${V3_ELEMENT_ID}" data-sitekey="${checkedSiteKey(siteKey)}" hidden></div>`,
  responseField: undefined,
  // Fixed text (the key is read from the element), so the page's CSP hash of it never changes.
  inlineScript:
    `window.${V3_ONLOAD}=function(){var k=document.getElementById('${V3_ELEMENT_ID}')` +
    `.getAttribute('data-sitekey');grecaptcha.ready(function(){grecaptcha.execute(k,` +
    `{action:'${WIDGET_ACTION}'}).then(window.${WIDGET_CALLBACK});});};`,
  siteverifyUrl: SITEVERIFY_URL,
  checksSiteKey: false,
  action: WIDGET_ACTION,
  scored: true,
};
