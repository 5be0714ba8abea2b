// Renders the served challenge page: constant inline style and script (their CSP hashes are
// computed once, at load), request values only in HTML-escaped attributes, no external asset
// except a captcha provider's widget script.

import { createHash } from 'node:crypto';
import { CHALLENGE_PAGE_SCRIPT } from './challenge-page-script';
import { escapeHtml } from './escape-html';

/**
 * How a captcha provider's widget goes into the page: the part of providers/' CaptchaProvider
 * the page reads (structurally, so either can change without the other importing it).
 */
export interface CaptchaWidget {
  /** The widget's script, loaded async. */
  scriptUrl(siteKey: string): string;
  /** Sources the widget needs, per directive, besides the page's own hashes. */
  readonly csp: {
    readonly scriptSrc: readonly string[];
    readonly frameSrc: readonly string[];
    readonly styleSrc: readonly string[];
    readonly connectSrc: readonly string[];
  };
  /** The widget's markup for a site key (the key arrives HTML-escaped). */
  widgetHtml(siteKey: string): string;
  /** Name of the form field the widget fills with its response. */
  readonly responseField: string;
  /** No widget to solve: the page asks grecaptcha.execute(siteKey) for a token (reCAPTCHA v3). */
  readonly execute: boolean;
}

export type ChallengePageProvider =
  | { readonly kind: 'browser'; readonly difficulty: number }
  | { readonly kind: 'captcha'; readonly widget: CaptchaWidget; readonly siteKey: string };

export interface ChallengePageRequest {
  /** The signed challenge token (challenge-token.ts). */
  readonly token: string;
  /** `challenge_path`: the page sends the browser to `<challengePath>/verify`. */
  readonly challengePath: string;
  readonly provider: ChallengePageProvider;
}

export interface ServedPage {
  readonly status: 403;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
}

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;margin:0;display:flex;min-height:100vh;' +
  'align-items:center;justify-content:center;background:#f6f7f9;color:#1f2328}' +
  'main{text-align:center;padding:2rem}';

const SCRIPT_HASH = cspHash(CHALLENGE_PAGE_SCRIPT);
const STYLE_HASH = cspHash(STYLE);

export function renderChallengePage(request: ChallengePageRequest): ServedPage {
  const { provider } = request;
  const data: [string, string][] = [
    ['token', request.token],
    ['verify', `${request.challengePath}/verify`],
  ];
  let head = '';
  let widget = '';
  if (provider.kind === 'browser') {
    data.push(['mode', 'pow'], ['difficulty', String(provider.difficulty)]);
  } else {
    const { widget: captcha, siteKey } = provider;
    data.push(['mode', 'captcha'], ['field', captcha.responseField], ['site-key', siteKey]);
    if (captcha.execute) data.push(['execute', '1']);
    head = `<script src="${escapeHtml(captcha.scriptUrl(siteKey))}" async defer></script>`;
    widget = captcha.widgetHtml(escapeHtml(siteKey));
  }
  const attributes = data.map(([name, value]) => ` data-${name}="${escapeHtml(value)}"`).join('');
  const body =
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    '<meta name="robots" content="noindex"><title>Checking your browser</title>' +
    `<style>${STYLE}</style>${head}</head><body><main id="cq"${attributes}>` +
    '<p>Checking your browser...</p>' +
    '<noscript><p>JavaScript is required to continue: please enable it and reload.</p></noscript>' +
    `${widget}</main><script>${CHALLENGE_PAGE_SCRIPT}</script></body></html>\n`;
  return {
    status: 403,
    headers: [
      ['content-type', 'text/html; charset=utf-8'],
      ['cache-control', 'no-store'],
      ['content-security-policy', contentSecurityPolicy(provider)],
      ['referrer-policy', 'no-referrer'],
      ['x-frame-options', 'DENY'],
      ['x-content-type-options', 'nosniff'],
    ],
    body,
  };
}

function contentSecurityPolicy(provider: ChallengePageProvider): string {
  const csp = provider.kind === 'captcha' ? provider.widget.csp : undefined;
  const directives = [
    "default-src 'none'",
    ['script-src', `'${SCRIPT_HASH}'`, ...(csp?.scriptSrc ?? [])].join(' '),
    ['style-src', `'${STYLE_HASH}'`, ...(csp?.styleSrc ?? [])].join(' '),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ];
  if (csp?.frameSrc.length) directives.push(['frame-src', ...csp.frameSrc].join(' '));
  if (csp?.connectSrc.length) directives.push(['connect-src', ...csp.connectSrc].join(' '));
  return directives.join('; ');
}

function cspHash(text: string): string {
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
}
