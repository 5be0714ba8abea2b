// The decision core: one request's attributes in, one Decision out, for every transport.
// The only place that knows RTI exists; never rejects (any failure is a fail-open Decision).

import { performance } from 'node:perf_hooks';
import { ADMIT_ALL, type Admission } from './admission';
import type { BlockMemory, Visitor } from './block-memory';
import { memoryScope } from './memory-scope';
import type { Cancellation } from './cancellation';
import { buildRtiInput, resolveEventType, type RtiInputConfig } from './build-rti-input';
import { unambiguousPath } from './canonical-path';
import type {
  Action,
  ChallengeProviderName,
  Decision,
  DecisionReason,
  FailureCause,
  Mode,
} from './decision';
import { FORBIDDEN_BODY, type BlockPageTemplate } from './block-page';
import { buildDecision, denyAnswer, type DecisionExtra } from './build-decision';
import { InFlightLimit, MAX_CAPTCHA_VERIFY_CALLS } from './in-flight-limit';
import { readPageTicket, writePageTicket } from './page-ticket';
import { ReplayGuard } from '../challenge/replay-guard';
import { toReturnUrl } from '../challenge/return-url';
import { resolveClientIp } from './client-ip';
import {
  challengeRequired,
  createServedChallenge,
  type CaptchaProvider,
  type ChallengeAnswer,
} from './served-challenge';
import type { ChallengeSettings } from './challenge-settings';
import { enforceGradually, resolveEnforcePercent, type BucketKey } from './enforcement';
import { isCorsPreflight, isPageNavigation } from './navigation';
import type { PathPatternList } from './path-pattern';
import { applyPolicy, type PolicyConfig, type PolicyOutcome } from './policy';
import {
  learnFrom,
  recallBlock,
  rememberedOutcome,
  visitorOf,
  visitorOfAttributes,
  type RememberedOutcome,
} from './remembered-block';
import type { RequestAttributes } from './request-attributes';
import { isRtiSkip, RtiError, type RtiCheck, type RtiInput, type RtiVerdict } from './rti-port';
import type { VerdictHeaderNames } from './verdict-headers';

export interface CoreConfig extends PolicyConfig, RtiInputConfig {
  readonly mode: Mode;
  /** Blocking mode: share (0-100) of would-block visitors acted on; the rest are allowed. */
  readonly enforcePercent: number;
  /** Keys the enforce_percent bucket hash: secret, so a bot cannot compute its bucket. */
  readonly enforceKey: BucketKey;
  /** RTI budget per request: connect, headers and body together. */
  readonly timeoutMs: number;
  /** Kept back from the proxy's deadline so our answer still reaches it in time. */
  readonly deadlineMarginMs: number;
  readonly uriExclusion: PathPatternList;
  /** The default ignore list (ignore_paths): allowed as `ignored` without calling RTI. */
  readonly ignorePaths: PathPatternList;
  /** Echo x-cheq-rti-result to the client too (debug_rti_result). */
  readonly debugRtiResult: boolean;
  /** Undefined when verdict headers to the upstream are turned off. */
  readonly verdictHeaderNames: VerdictHeaderNames | undefined;
  /** block_page_template; undefined: the built-in block page. */
  readonly blockPage: BlockPageTemplate | undefined;
  /** Undefined without a signing secret: no challenge is served. */
  readonly challenge: ChallengeSettings | undefined;
  /** challenge_provider, also without a secret: it labels what happened to a challenge. */
  readonly challengeProvider: ChallengeProviderName;
  /**
   * A strategy asked for the served challenge but no signing secret exists: the challenge is
   * allowed with the upstream header instead, and counted as `unavailable`.
   */
  readonly challengeUnavailable: boolean;
  /** How long the verdict memory keeps a visitor RTI blocked; 0: this site does not use it. */
  readonly verdictMemoryTtlMs: number;
}

export interface DecideOptions {
  /** The proxy's deadline for our answer, epoch milliseconds. */
  readonly deadlineMs?: number;
  /** Told when the proxy gives up on the call; aborts the RTI request. */
  readonly cancellation?: Cancellation;
  /**
   * NGINX's page endpoint: render the page of this X-Cheq-Page ticket (page-ticket.ts) without
   * asking RTI; '' or a bad ticket gets a plain 403. Such a decision was counted when it was taken.
   */
  readonly pageTicket?: string;
}

export type Decide = (attrs: RequestAttributes, options?: DecideOptions) => Promise<Decision>;

export interface DecideDeps {
  /** Whether the process can take a check to RTI now; every check is admitted at once by default. */
  readonly admission?: Admission;
  readonly now?: () => number;
  /** The site these settings are, named on every decision (default `default`). */
  readonly site?: string;
  /** Challenge tokens and grants redeemed: one per process, kept across reloads. */
  readonly replayGuard?: ReplayGuard;
  /** The site's captcha provider (widget and verify call); none for `browser`. */
  readonly captcha?: CaptchaProvider;
  /** Captcha verify calls in flight: one limit per process, kept across reloads. */
  readonly verifyCalls?: InFlightLimit;
  /** RTI's recent blocks, recalled when RTI cannot be asked: one per process, kept across reloads. */
  readonly memory?: BlockMemory;
}

/** The answer when no site serves a request: allowed without asking RTI, forged headers removed. */
export function unservedDecision(config: CoreConfig, attrs: RequestAttributes): Decision {
  return buildDecision(config, 'none', 'allow', 'no_site', config.mode, attrs, {});
}

export function createDecide(config: CoreConfig, rti: RtiCheck, deps: DecideDeps = {}): Decide {
  const { admission = ADMIT_ALL, now = Date.now, site = 'default' } = deps;
  const memory = config.verdictMemoryTtlMs > 0 ? deps.memory : undefined;
  const scope = memoryScope(site, config);
  // Only a site whose strategies serve the challenge has one: anywhere else its verify path is
  // an ordinary request, checked with RTI.
  const served =
    config.challenge &&
    (config.blockStrategy === 'challenge' || config.challengeStrategy === 'challenge')
      ? createServedChallenge(config.challenge, site, {
          guard: deps.replayGuard ?? new ReplayGuard(),
          captcha: deps.captcha,
          verifyCalls: deps.verifyCalls ?? new InFlightLimit(MAX_CAPTCHA_VERIFY_CALLS),
          now,
        })
      : undefined;
  return async function decide(attrs, options = {}) {
    const mode = routeMode(attrs) ?? config.mode;
    try {
      if (options.pageTicket !== undefined) return renderPage(options.pageTicket, mode, attrs);
      // Before the exclusions: the verify request never reaches the upstream, whatever they say.
      // Monitoring serves no challenge, so there its verify path is checked as any request.
      if (mode === 'blocking' && served?.isVerifyRequest(attrs)) {
        const clientIp = resolveClientIp(attrs, config.trustedIpHeader, config.trustedProxies);
        const answer = await served.verify(attrs, clientIp, untilDeadlineMs(options.deadlineMs));
        return fromChallenge(answer, 'challenge_verify', mode, attrs, {});
      }
      if (isExcluded(config.uriExclusion, attrs.path)) return allowWithout('excluded', mode, attrs);
      if (isExcluded(config.ignorePaths, attrs.path)) return allowWithout('ignored', mode, attrs);
      if (isCorsPreflight(attrs.method, attrs.headers)) {
        return allowWithout('preflight', mode, attrs);
      }
      const eventType = resolveEventType(attrs, config);
      let budgetMs = timeBudgetMs(options.deadlineMs);
      if (budgetMs <= 0) return unanswered('no_time_budget', mode, attrs, { eventType });

      // A remembered bot in a flood (checks already waiting for a slot, or the process behind on
      // its CPU) is answered at once: it neither waits nor takes a slot nor spends an RTI call's
      // CPU. Only then: with every slot merely busy RTI still decides, and in monitoring mode a
      // recall here would only skip RTI, blocking nothing.
      let visitor: Visitor | undefined;
      if (memory && mode === 'blocking' && admission.flooded) {
        visitor = visitorOfAttributes(scope, attrs, config);
        const recalled = fromMemory(memory, 'overloaded', visitor, mode, attrs, { eventType });
        if (recalled) return recalled;
      }
      // Before building the RTI call: a check that is not admitted must cost as little as can be.
      // Waiting in line spends the check's own budget, so that it is still answered within it;
      // it waits only while at least half of that budget is left for the RTI call.
      const answerByMs = now() + budgetMs;
      const entry = admission.enter(answerByMs - budgetMs / 2, options.cancellation);
      if (entry !== 'admitted') {
        const outcome = await entry;
        if (outcome !== 'admitted') return unanswered(outcome, mode, attrs, { eventType }, visitor);
        budgetMs = answerByMs - now();
      }
      const started = performance.now();
      let input: RtiInput;
      let verdict: RtiVerdict;
      try {
        input = buildRtiInput(attrs, eventType, config);
        verdict = await rti.check(input, budgetMs, options.cancellation);
      } catch (err: unknown) {
        const durationMs = performance.now() - started;
        if (!(err instanceof RtiError)) throw err;
        const { code } = err;
        const extra = {
          eventType,
          // A skipped call (circuit open, overloaded) is no RTI call: nothing to time.
          ...(isRtiSkip(code) ? {} : { rti: { outcome: code, durationMs } }),
          failureDetail: err.message,
        };
        return unanswered(code, mode, attrs, extra, visitor);
      } finally {
        admission.leave();
      }
      const rtiCall = { outcome: 'ok' as const, durationMs: performance.now() - started };
      let outcome = applyPolicy(verdict, mode, config, () =>
        isPageNavigation(attrs.method, attrs.headers),
      );
      if (mode === 'blocking') {
        const percent = resolveEnforcePercent(attrs.route.enforcePercent, config.enforcePercent);
        outcome = enforceGradually(outcome, percent, input, config.enforceKey);
      }
      if (memory) {
        visitor ??= visitorOf(scope, attrs, input.clientIp, input.duidCookie);
        learnFrom(outcome, memory, visitor, config.verdictMemoryTtlMs);
      }
      // Built here with its keys in one order (a hot path: no spread of another object).
      const extra: DecisionExtra = {
        eventType,
        verdict,
        rule: outcome.rule,
        rti: rtiCall,
        challenge: outcome.challenge,
        ...(outcome.httpStatus === undefined ? {} : { httpStatus: outcome.httpStatus }),
        ...(outcome.location === undefined ? {} : { location: outcome.location }),
        ...(outcome.would === undefined ? {} : { would: outcome.would }),
      };
      return act(outcome, mode, attrs, extra);
    } catch (err: unknown) {
      // A bug of ours must never become the site's outage: allow, and say why.
      return failOpen('internal_error', mode, attrs, { failureDetail: String(err) });
    }
  };

  /**
   * Carries out an outcome (the policy's on RTI's verdict, or a remembered block), its facts in
   * `extra`: the served challenge, else what the strategy chose.
   */
  function act(
    outcome: PolicyOutcome | RememberedOutcome,
    mode: Mode,
    attrs: RequestAttributes,
    extra: DecisionExtra,
  ): Decision {
    if (outcome.action === 'challenge' && served) {
      return fromChallenge(served.challenge(attrs), outcome.reason, mode, attrs, extra);
    }
    const taken = decision(outcome.action, outcome.reason, mode, attrs, extra);
    const event = unservedEvent(outcome, attrs);
    return event === undefined ? taken : { ...taken, challengeEvent: event };
  }

  /** RTI could not be asked: the visitor's remembered block if any, else a fail-open. */
  function unanswered(
    cause: FailureCause,
    mode: Mode,
    attrs: RequestAttributes,
    extra: FailOpenExtra,
    visitor?: Visitor,
  ): Decision {
    if (!memory) return failOpen(cause, mode, attrs, extra);
    const known = visitor ?? visitorOfAttributes(scope, attrs, config);
    const recalled = fromMemory(memory, cause, known, mode, attrs, extra);
    return recalled ?? failOpen(cause, mode, attrs, extra);
  }

  /**
   * The decision on a remembered block. In blocking mode it is not a fail-open (no `failure`:
   * the request was not let through); in monitoring mode it is one, with what blocking would do.
   */
  function fromMemory(
    store: BlockMemory,
    cause: FailureCause,
    visitor: Visitor,
    mode: Mode,
    attrs: RequestAttributes,
    extra: FailOpenExtra,
  ): Decision | undefined {
    const percent = resolveEnforcePercent(attrs.route.enforcePercent, config.enforcePercent);
    const found = recallBlock(store, visitor, cause, mode, percent, config.enforceKey);
    if (!found) return undefined;
    const outcome = rememberedOutcome(config, mode, () =>
      isPageNavigation(attrs.method, attrs.headers),
    );
    const remembered = { cause, key: found.key, expiresAtMs: found.expiresAtMs };
    return act(outcome, mode, attrs, {
      ...extra,
      ...(mode === 'monitoring' ? { failure: cause } : {}),
      remembered,
      challenge: outcome.challenge,
      ...(outcome.httpStatus === undefined ? {} : { httpStatus: outcome.httpStatus }),
      ...(outcome.location === undefined ? {} : { location: outcome.location }),
      ...(outcome.would === undefined ? {} : { would: outcome.would }),
    });
  }

  function timeBudgetMs(deadlineMs: number | undefined): number {
    return Math.min(config.timeoutMs, untilDeadlineMs(deadlineMs));
  }

  /** Time left before the proxy's deadline, less the margin; unbounded without a deadline. */
  function untilDeadlineMs(deadlineMs: number | undefined): number {
    if (deadlineMs === undefined || !Number.isFinite(deadlineMs)) return Infinity;
    return Math.floor(deadlineMs - now() - config.deadlineMarginMs);
  }

  /** The page a ticket names, as the deny that issued it would have answered. */
  function renderPage(text: string, mode: Mode, attrs: RequestAttributes): Decision {
    const ticket = readPageTicket(text);
    switch (ticket?.kind) {
      case 'not_found':
        return decision('deny', 'threat_block', mode, attrs, { httpStatus: 404 });
      case 'block': {
        const { requestId, rayId } = ticket;
        const denied = decision('deny', 'threat_block', mode, attrs, {});
        return { ...denied, ...denyAnswer(config, { ...attrs, requestId }, 403, rayId) };
      }
      case 'challenge': {
        const answer = served?.pageOf(ticket.token, attrs);
        if (answer) return fromChallenge(answer, 'threat_challenge', mode, attrs, {});
        break;
      }
      case 'challenge_required': {
        const body = challengeRequired(toReturnUrl(ticket.returnUrl), ticket.requestId);
        return { ...decision('challenge', 'threat_challenge', mode, attrs, {}), body };
      }
      case undefined:
    }
    return {
      ...decision('deny', 'threat_block', mode, attrs, {}),
      body: FORBIDDEN_BODY,
      clientHeaders: [],
    };
  }

  /** A decision of the served challenge: allowed by a pass, the page or 403, or the verify's 302. */
  function fromChallenge(
    answer: ChallengeAnswer,
    reason: DecisionReason,
    mode: Mode,
    attrs: RequestAttributes,
    extra: DecisionExtra,
  ): Decision {
    const provider = config.challengeProvider;
    switch (answer.kind) {
      case 'pass': {
        const allowed = decision('allow', 'challenge_passed', mode, attrs, extra);
        const { outcome } = answer;
        return outcome ? { ...allowed, challengeEvent: { provider, outcome } } : allowed;
      }
      case 'challenge': {
        const { body, clientHeaders, ticket, outcome } = answer;
        const challenged = decision('challenge', reason, mode, attrs, extra);
        return {
          ...challenged,
          body,
          clientHeaders: [...clientHeaders, ...(challenged.clientHeaders ?? [])],
          page: writePageTicket(ticket),
          ...(outcome ? { challengeEvent: { provider, outcome } } : {}),
        };
      }
      case 'passed': {
        const { location, setCookie } = answer;
        const redirected = decision('redirect', reason, mode, attrs, { ...extra, location });
        return { ...redirected, setCookie, challengeEvent: { provider, outcome: 'passed' } };
      }
      case 'unavailable': {
        // Never the verify request's answer (VerifyAnswer): that path is then checked with RTI.
        const allowed = decision('allow', reason, mode, attrs, { ...extra, challenge: true });
        return { ...allowed, challengeEvent: { provider, outcome: 'unavailable' } };
      }
    }
  }

  /**
   * What happened to a challenge that was not served: monitoring (or enforce_percent) would have
   * served the page; no signing secret let the challenge through.
   */
  function unservedEvent(
    outcome: PolicyOutcome | RememberedOutcome,
    attrs: RequestAttributes,
  ): Decision['challengeEvent'] {
    const provider = config.challengeProvider;
    if (outcome.would?.action === 'challenge') {
      return isPageNavigation(attrs.method, attrs.headers)
        ? { provider, outcome: 'would_serve' }
        : undefined;
    }
    if (config.challengeUnavailable && outcome.challenge && outcome.reason === 'threat_challenge') {
      return { provider, outcome: 'unavailable' };
    }
    return undefined;
  }

  function allowWithout(reason: DecisionReason, mode: Mode, attrs: RequestAttributes): Decision {
    return decision('allow', reason, mode, attrs, {});
  }

  function failOpen(
    cause: FailureCause,
    mode: Mode,
    attrs: RequestAttributes,
    extra: FailOpenExtra,
  ): Decision {
    return decision('allow', 'fail_open', mode, attrs, { ...extra, failure: cause });
  }

  function decision(
    action: Action,
    reason: DecisionReason,
    mode: Mode,
    attrs: RequestAttributes,
    extra: DecisionExtra,
  ): Decision {
    return buildDecision(config, site, action, reason, mode, attrs, extra);
  }
}

/** What a fail-open knows besides its cause. */
type FailOpenExtra = Pick<DecisionExtra, 'eventType' | 'rti' | 'failureDetail'>;

/** Excluded only when the path has one reading and it matches: an ambiguous path is checked. */
function isExcluded(exclusions: PathPatternList, rawPath: string): boolean {
  if (exclusions.isEmpty) return false;
  const path = unambiguousPath(rawPath);
  return path !== undefined && exclusions.matches(path);
}

function routeMode(attrs: RequestAttributes): Mode | undefined {
  const mode = attrs.route.mode;
  return mode === 'monitoring' || mode === 'blocking' ? mode : undefined;
}
