// What a captcha provider is to us: its widget on the challenge page (script, CSP sources,
// element, the field it fills) and its siteverify API. One file per provider describes one.

import type { CaptchaProviderName } from './challenge-provider-name';

/**
 * The action name our widgets send where the provider takes one (Turnstile's data-action,
 * reCAPTCHA v3's execute): siteverify echoes it, and an answer naming another is refused.
 */
export const WIDGET_ACTION = 'challenge';

/** Sources the page's Content-Security-Policy must allow, per directive, for the widget. */
export interface WidgetCsp {
  readonly scriptSrc: readonly string[];
  readonly frameSrc: readonly string[];
  readonly styleSrc: readonly string[];
  readonly connectSrc: readonly string[];
}

export interface CaptchaProvider {
  readonly name: CaptchaProviderName;
  /** The widget's script, loaded with `<script src async defer>` (v3 names the key in it). */
  scriptUrl(siteKey: string): string;
  readonly csp: WidgetCsp;
  /** The widget's element for a site key; empty when there is nothing to show (v3). */
  widgetHtml(siteKey: string): string;
  /** The form field the widget fills with its response token once solved. */
  readonly responseField: string;
  /**
   * No widget to solve: the page asks `grecaptcha.execute(siteKey, { action: WIDGET_ACTION })`
   * for a token (reCAPTCHA v3).
   */
  readonly execute: boolean;
  /** The provider's siteverify endpoint (challenge_verify_url replaces it). */
  readonly siteverifyUrl: string;
  /** Whether siteverify takes our `sitekey` and refuses a token issued under another key. */
  readonly checksSiteKey: boolean;
  /** The action the widget sends and siteverify must echo when it returns one. */
  readonly action: string | undefined;
  /** Whether siteverify answers with a score (0-1) judged against challenge_min_score. */
  readonly scored: boolean;
}
