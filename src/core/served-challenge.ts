// The served challenge of one site, as the decision core runs it: the page for a challenged
// navigation (a machine-readable 403 for anything else), the verify request that a passed page
// sends (decided here, without RTI), and the pass cookie or landing grant that turn a later
// challenge into an allow. The primitives (signing, binding, token, page) are in src/challenge.

import type { ChallengeVerifier } from '../challenge/challenge-verifier';
import { renderChallengePage, type CaptchaWidget } from '../challenge/challenge-page';
import {
  issueChallengeToken,
  redeemChallengeToken,
  verifyChallengeToken,
  type ChallengeTokenCheck,
} from '../challenge/challenge-token';
import { checkLandingGrant, takeLandingGrant, withLandingGrant } from '../challenge/landing-grant';
import { checkPassCookie, issuePassCookie } from '../challenge/pass-cookie';
import { checkProofOfWork } from '../challenge/proof-of-work';
import type { ReplayGuard } from '../challenge/replay-guard';
import { toReturnUrl } from '../challenge/return-url';
import { verify } from '../challenge/signed-value';
import { visitorBinding, type Visitor } from '../challenge/visitor-binding';
import type { ChallengeSettings } from './challenge-settings';
import type { ChallengeOutcome, ClientHeader, DenyBody } from './decision';
import { isPageNavigation } from './navigation';
import type { PageTicket } from './page-ticket';
import type { InFlightLimit } from './in-flight-limit';
import type { RequestAttributes } from './request-attributes';

/** Longest solution read from a verify request: a captcha response is at most 4 KB. */
const MAX_SOLUTION_CHARS = 4096;

/**
 * A solution worth a provider's verify call: captcha responses (and proof-of-work nonces) are
 * base64 or base64url text with `.`, `:` or `*` separators. Anything else, or nothing, is
 * refused without calling out: a bot must not spend the site's provider quota for free.
 */
const SOLUTION = new RegExp(`^[A-Za-z0-9_.~+/=:*-]{1,${MAX_SOLUTION_CHARS}}$`);

/** What a site's captcha provider brings: its widget for the page, its verify call. */
export interface CaptchaProvider {
  readonly widget: CaptchaWidget;
  readonly verifier: ChallengeVerifier;
}

export interface ServedChallengeDeps {
  /** Tokens and grants redeemed by this process; shared by every site and every reload. */
  readonly guard: ReplayGuard;
  /** The site's captcha provider; undefined for `browser`. */
  readonly captcha: CaptchaProvider | undefined;
  /** Captcha verify calls in flight in this process; past its limit a verify is `unavailable`. */
  readonly verifyCalls: InFlightLimit;
  readonly now: () => number;
}

/** What the challenge does with one request. */
export type ChallengeAnswer =
  /** A valid pass (no outcome) or landing grant (`loop`): the challenge is allowed. */
  | { readonly kind: 'pass'; readonly outcome?: 'loop' }
  /** The page (navigations) or the challenge_required 403 (anything else). */
  | {
      readonly kind: 'challenge';
      readonly outcome: ChallengeOutcome | undefined;
      readonly body: DenyBody;
      readonly clientHeaders: readonly ClientHeader[];
      /** From which NGINX's page endpoint renders the same answer. */
      readonly ticket: PageTicket;
    }
  /** The verify passed: back to the return URL with the pass cookie and a landing grant. */
  | { readonly kind: 'passed'; readonly location: string; readonly setCookie: string }
  /** The site's captcha provider is not available in this build: nothing can be served. */
  | { readonly kind: 'unavailable' };

/** What the verify request gets: the page (or 403) again, or the 302; never an allow. */
export type VerifyAnswer = Extract<ChallengeAnswer, { kind: 'challenge' | 'passed' }>;
type Served = Extract<ChallengeAnswer, { kind: 'challenge' }>;

export interface ServedChallenge {
  /**
   * Whether a request is the page's verify request (`<challenge_path>/verify`, exactly). Never
   * when the challenge cannot be served (its captcha provider missing): then it is an ordinary
   * request, checked with RTI.
   */
  isVerifyRequest(attrs: RequestAttributes): boolean;
  /** The verify request: the token and solution checked, within `budgetMs` for a captcha. */
  verify(
    attrs: RequestAttributes,
    clientIp: string | undefined,
    budgetMs: number,
  ): Promise<VerifyAnswer>;
  /** A request the policy challenges: passed, or the page, or the 403. */
  challenge(attrs: RequestAttributes): ChallengeAnswer;
  /** NGINX's page endpoint: the page of a token this visitor was given; undefined if none. */
  pageOf(token: string, attrs: RequestAttributes): ChallengeAnswer | undefined;
}

export function createServedChallenge(
  settings: ChallengeSettings,
  site: string,
  deps: ServedChallengeDeps,
): ServedChallenge {
  const { keys, provider } = settings;
  const { guard, captcha, verifyCalls, now } = deps;
  const verifyPath = `${settings.path}/verify`;
  const unavailable = provider !== 'browser' && captcha === undefined;

  const visitorOf = (attrs: RequestAttributes): Visitor => ({
    site,
    binding: visitorBinding(site, attrs.headers),
    nowMs: now(),
  });

  /** The page with a fresh token for `returnUrl`, or the 403 for a non-navigation. */
  function serve(attrs: RequestAttributes, returnUrl: string, outcome: ChallengeOutcome): Served {
    if (!isPageNavigation(attrs.method, attrs.headers)) {
      return {
        kind: 'challenge',
        // The JSON 403 is no page served: only a failed verify is worth counting.
        outcome: outcome === 'served' ? undefined : outcome,
        body: challengeRequired(returnUrl, attrs.requestId),
        clientHeaders: [],
        ticket: {
          kind: 'challenge_required',
          returnUrl,
          ...(attrs.requestId === undefined ? {} : { requestId: attrs.requestId }),
        },
      };
    }
    const token = issueChallengeToken(keys, {
      ...visitorOf(attrs),
      returnUrl,
      provider,
      difficulty: settings.difficulty,
    });
    return { ...page(token), outcome };
  }

  function page(token: string): Omit<Served, 'outcome'> {
    const served = renderChallengePage({
      token,
      challengePath: settings.path,
      provider:
        captcha === undefined
          ? { kind: 'browser', difficulty: settings.difficulty }
          : { kind: 'captcha', widget: captcha.widget, siteKey: settings.siteKey },
    });
    let contentType = 'text/html; charset=utf-8';
    const clientHeaders: ClientHeader[] = [];
    for (const [name, value] of served.headers) {
      // The adapters write these two for every answer that stops a request.
      if (name === 'content-type') contentType = value;
      else if (name !== 'cache-control') clientHeaders.push([name, value]);
    }
    return {
      kind: 'challenge',
      body: { contentType, text: served.body },
      clientHeaders,
      ticket: { kind: 'challenge', token },
    };
  }

  async function check(
    token: Extract<ChallengeTokenCheck, { ok: true }>['token'],
    tokenText: string,
    solution: string,
    clientIp: string | undefined,
    host: string,
    budgetMs: number,
  ): Promise<ChallengeOutcome | undefined> {
    if (token.p !== provider) return 'failed';
    if (provider === 'browser') {
      return checkProofOfWork(tokenText, solution, token.d) ? undefined : 'failed';
    }
    if (captcha === undefined) return 'unavailable';
    if (!verifyCalls.tryEnter()) return 'unavailable';
    const result = await captcha.verifier
      .verify({
        provider,
        response: solution,
        remoteIp: clientIp,
        budgetMs: Math.min(settings.verifyTimeoutMs, budgetMs),
        hostname: host,
      })
      .finally(() => verifyCalls.leave());
    if (result.ok) return undefined;
    // The provider's own failures, not the visitor's.
    return result.why === 'timeout' || result.why === 'unavailable' || result.why === 'bad_answer'
      ? 'unavailable'
      : 'failed';
  }

  return {
    isVerifyRequest: attrs => !unavailable && attrs.path === verifyPath,

    async verify(attrs, clientIp, budgetMs) {
      const params = new URLSearchParams(attrs.query);
      const tokenText = params.get('t') ?? '';
      const solution = (params.get('s') ?? '').slice(0, MAX_SOLUTION_CHARS + 1);
      const visitor = visitorOf(attrs);
      const checked = verifyChallengeToken(keys, tokenText, visitor, guard);
      if (!checked.ok) return serve(attrs, returnUrlOf(tokenText), outcomeOf(checked.why));
      const { token } = checked;
      // One attempt per token, redeemed before the solution is checked: a token cannot make us
      // call a captcha provider twice (concurrent copies included); a failure serves a new one.
      if (!redeemChallengeToken(token, guard, visitor.nowMs).ok) {
        return serve(attrs, token.u, 'replayed');
      }
      const failed = SOLUTION.test(solution)
        ? await check(token, tokenText, solution, clientIp, attrs.host, budgetMs)
        : 'failed';
      if (failed) return serve(attrs, token.u, failed);
      // A captcha check took time: the pass and the grant count from now.
      const passed = visitorOf(attrs);
      return {
        kind: 'passed',
        location: withLandingGrant(keys, token.u, passed),
        setCookie: issuePassCookie(keys, {
          ...passed,
          ttlS: settings.passTtlS,
          secure: attrs.scheme === 'https',
        }),
      };
    },

    challenge(attrs) {
      if (unavailable) return { kind: 'unavailable' };
      const visitor = visitorOf(attrs);
      if (checkPassCookie(keys, attrs.headers.get('cookie'), visitor).ok) return { kind: 'pass' };
      const target = attrs.query === '' ? attrs.path : `${attrs.path}?${attrs.query}`;
      const { url, grant } = takeLandingGrant(target);
      if (grant !== undefined && checkLandingGrant(keys, grant, url, visitor, guard).ok) {
        return { kind: 'pass', outcome: 'loop' };
      }
      return serve(attrs, url, 'served');
    },

    pageOf(token, attrs) {
      if (unavailable) return undefined;
      const checked = verifyChallengeToken(keys, token, visitorOf(attrs), guard);
      return checked.ok ? { ...page(token), outcome: undefined } : undefined;
    },
  };

  /** Where a refused token meant to send the visitor back to: only a genuine token's URL. */
  function returnUrlOf(tokenText: string): string {
    const u = verify(keys, 'token', tokenText)?.['u'];
    return typeof u === 'string' ? toReturnUrl(u) : '/';
  }
}

function outcomeOf(
  why: Extract<ChallengeTokenCheck, { ok: false }>['why'],
): 'failed' | 'expired' | 'replayed' {
  return why === 'expired' || why === 'replayed' ? why : 'failed';
}

/** The 403 a challenged non-navigation gets: a challenge is required, open this URL to take it. */
export function challengeRequired(returnUrl: string, requestId: string | undefined): DenyBody {
  return {
    contentType: 'application/json',
    text: `${JSON.stringify({ error: 'challenge_required', challenge_url: returnUrl, request_id: requestId })}\n`,
  };
}
