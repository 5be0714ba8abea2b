// Asks a captcha provider's siteverify API about a visitor's response token: one form POST
// (secret, response, remoteip) over undici, under one deadline that covers connect, headers and
// body; the answer judged by siteverify-answer. Never throws: every failure is a VerifyResult,
// and nothing it returns or raises carries the secret.

import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import type { ChallengeVerifier, VerifyResult } from '../challenge-verifier';
import type { CaptchaProvider } from './captcha-provider';
import type { ChallengeProviderName } from './challenge-provider-name';
import { captchaProvider } from './challenge-providers';
import { judgeSiteverifyAnswer } from './siteverify-answer';

/** A response token longer than this is refused unsent (the verify request's `s`, 4 KB). */
export const MAX_RESPONSE_CHARS = 4096;

/** Siteverify answers are a few hundred bytes; a larger one is not read: bad_answer. */
const MAX_ANSWER_BYTES = 16 * 1024;

/** One site's captcha settings, resolved (challenge_* settings). */
export interface SiteverifySettings {
  /** challenge_provider_secret: sent to the provider, never logged or returned. */
  readonly secret: string;
  /** challenge_site_key: sent where the provider checks it (hCaptcha). */
  readonly siteKey: string;
  /** challenge_verify_url; undefined: the provider's own siteverify endpoint. */
  readonly verifyUrl: URL | undefined;
  /** challenge_min_score: the lowest reCAPTCHA v3 score that passes. */
  readonly minScore: number;
  /** challenge_verify_timeout_ms: the call's deadline, also capped by the request's budget. */
  readonly timeoutMs: number;
}

export interface SiteverifyRequest {
  readonly provider: ChallengeProviderName;
  readonly response: string;
  readonly remoteIp: string | undefined;
  readonly budgetMs: number;
  /** The host the challenge was served on: an answer naming another hostname is refused. */
  readonly hostname?: string;
}

const TIMEOUT: VerifyResult = { ok: false, why: 'timeout' };
const UNAVAILABLE: VerifyResult = { ok: false, why: 'unavailable' };
const REJECTED: VerifyResult = { ok: false, why: 'rejected' };
const BAD_ANSWER: VerifyResult = { ok: false, why: 'bad_answer' };

const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** The siteverify client of one site; the dispatcher (connections) may be shared by sites. */
export class SiteverifyClient implements ChallengeVerifier {
  constructor(
    private readonly settings: SiteverifySettings,
    private readonly dispatcher: Dispatcher,
  ) {}

  async verify(request: SiteverifyRequest): Promise<VerifyResult> {
    const provider = captchaProvider(request.provider);
    // `browser` is judged by its proof of work: there is no provider to ask.
    if (provider === undefined) return UNAVAILABLE;
    if (request.response === '' || request.response.length > MAX_RESPONSE_CHARS) return REJECTED;
    const timeoutMs = Math.min(this.settings.timeoutMs, request.budgetMs);
    if (!(timeoutMs > 0)) return TIMEOUT;

    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // undici honours an abort only once the request is on a connection, so the deadline
    // answers by itself and then aborts whatever is still going.
    const deadline = new Promise<VerifyResult>(resolve => {
      timer = setTimeout(() => {
        resolve(TIMEOUT);
        controller.abort();
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.ask(provider, request, controller.signal), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The call itself; resolves with the judged answer, or with the failure it met. */
  private async ask(
    provider: CaptchaProvider,
    request: SiteverifyRequest,
    signal: AbortSignal,
  ): Promise<VerifyResult> {
    const url = this.settings.verifyUrl ?? new URL(provider.siteverifyUrl);
    try {
      const { statusCode, body } = await this.dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: this.form(provider, request).toString(),
        signal,
      });
      if (statusCode !== 200) {
        // Drained so the keep-alive connection survives.
        await body.dump({ limit: MAX_ANSWER_BYTES });
        return UNAVAILABLE;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body) {
        const bytes = chunk as Buffer;
        size += bytes.length;
        if (size > MAX_ANSWER_BYTES) {
          body.destroy();
          return BAD_ANSWER;
        }
        chunks.push(bytes);
      }
      return judgeSiteverifyAnswer(Buffer.concat(chunks, size).toString('utf8'), {
        provider,
        hostname: request.hostname,
        minScore: this.settings.minScore,
      });
    } catch (err: unknown) {
      return signal.aborted || TIMEOUT_CODES.has(errorCode(err)) ? TIMEOUT : UNAVAILABLE;
    }
  }

  private form(provider: CaptchaProvider, request: SiteverifyRequest): URLSearchParams {
    const form = new URLSearchParams({ secret: this.settings.secret, response: request.response });
    // Only an address: whatever else a header carried is not the provider's to read.
    if (request.remoteIp !== undefined && isIP(request.remoteIp) !== 0) {
      form.set('remoteip', request.remoteIp);
    }
    if (provider.checksSiteKey && this.settings.siteKey !== '') {
      form.set('sitekey', this.settings.siteKey);
    }
    return form;
  }
}

function errorCode(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'string' ? code : '';
}
