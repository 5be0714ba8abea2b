// What a captcha provider is to us: its widget on the challenge page (script, CSP sources,
// element) and its siteverify API. One file per provider describes one.

import type { CaptchaProviderName } from './challenge-provider-name';

/**
 * The global function every widget calls with its response token once solved: the challenge
 * page's script defines it (it sends the token to the verify path as `s`).
 */
export const WIDGET_CALLBACK = 'cheqChallengeSolved';

/** The action name our widgets send where the provider takes one, and siteverify echoes back. */
export const WIDGET_ACTION = 'cheq_challenge';

/** Sources the page's Content-Security-Policy must allow, per directive, for the widget. */
export interface WidgetCsp {
  readonly scriptSrc: readonly string[];
  readonly frameSrc: readonly string[];
  readonly styleSrc: readonly string[];
  readonly connectSrc: readonly string[];
}

export interface CaptchaProvider {
  readonly name: CaptchaProviderName;
  /** The widget's script, loaded with `<script src async defer>`. */
  scriptUrl(siteKey: string): string;
  readonly csp: WidgetCsp;
  /** The widget's element; it calls WIDGET_CALLBACK with the response token once solved. */
  widgetHtml(siteKey: string): string;
  /** The form field the widget fills with its response (a page that posts a form reads it). */
  readonly responseField: string | undefined;
  /**
   * A fixed inline script the widget needs besides its own (reCAPTCHA v3 asks for its token), to
   * be put in the page and hashed into its CSP; undefined when the widget needs none.
   */
  readonly inlineScript: string | undefined;
  /** The provider's siteverify endpoint (challenge_verify_url replaces it). */
  readonly siteverifyUrl: string;
  /** Whether siteverify takes our `sitekey` and refuses a token issued under another key. */
  readonly checksSiteKey: boolean;
  /** The action the widget sends and siteverify must echo when it returns one. */
  readonly action: string | undefined;
  /** Whether siteverify answers with a score (0-1) judged against challenge_min_score. */
  readonly scored: boolean;
}
