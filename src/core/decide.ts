// The decision core: one request's attributes in, one Decision out, for every transport.
// The only place that knows RTI exists; never rejects (any failure is a fail-open Decision).

import { performance } from 'node:perf_hooks';
import { ADMIT_ALL, type Admission } from './admission';
import type { Cancellation } from './cancellation';
import { buildRtiInput, resolveEventType, type RtiInputConfig } from './build-rti-input';
import { unambiguousPath } from './canonical-path';
import type { Action, Decision, DecisionReason, FailureCause, Mode } from './decision';
import { statusOf } from './decision';
import { renderDenyBody } from './deny-body';
import { enforceGradually, resolveEnforcePercent, type BucketKey } from './enforcement';
import { isCorsPreflight, isPageNavigation } from './navigation';
import type { PathPatternList } from './path-pattern';
import { applyPolicy, type PolicyConfig } from './policy';
import type { RequestAttributes } from './request-attributes';
import {
  isRtiSkip,
  RtiError,
  type RtiCallErrorCode,
  type RtiCheck,
  type RtiInput,
  type RtiVerdict,
} from './rti-port';
import {
  RTI_RESULT_HEADER,
  upstreamVerdictHeaders,
  type VerdictHeaderNames,
} from './verdict-headers';

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
}

export interface DecideOptions {
  /** The proxy's deadline for our answer, epoch milliseconds. */
  readonly deadlineMs?: number;
  /** Told when the proxy gives up on the call; aborts the RTI request. */
  readonly cancellation?: Cancellation;
}

export type Decide = (attrs: RequestAttributes, options?: DecideOptions) => Promise<Decision>;

export interface DecideDeps {
  /** Whether the process can take a check to RTI now; every check is admitted at once by default. */
  readonly admission?: Admission;
  readonly now?: () => number;
  /** The site these settings are, named on every decision (default `default`). */
  readonly site?: string;
}

/** The answer when no site serves a request: allowed without asking RTI, forged headers removed. */
export function unservedDecision(config: CoreConfig, attrs: RequestAttributes): Decision {
  return buildDecision(config, 'none', 'allow', 'no_site', config.mode, attrs, {});
}

export function createDecide(config: CoreConfig, rti: RtiCheck, deps: DecideDeps = {}): Decide {
  const { admission = ADMIT_ALL, now = Date.now, site = 'default' } = deps;
  return async function decide(attrs, options = {}) {
    const mode = routeMode(attrs) ?? config.mode;
    try {
      if (isExcluded(config.uriExclusion, attrs.path)) return allowWithout('excluded', mode, attrs);
      if (isExcluded(config.ignorePaths, attrs.path)) return allowWithout('ignored', mode, attrs);
      if (isCorsPreflight(attrs.method, attrs.headers)) {
        return allowWithout('preflight', mode, attrs);
      }
      const eventType = resolveEventType(attrs, config);
      let budgetMs = timeBudgetMs(options.deadlineMs);
      if (budgetMs <= 0) return failOpen('no_time_budget', mode, attrs, { eventType });

      // Before building the RTI call: a check that is not admitted must cost as little as can be.
      // Waiting in line spends the check's own budget, so that it is still answered within it;
      // it waits only while at least half of that budget is left for the RTI call.
      const answerByMs = now() + budgetMs;
      const entry = admission.enter(answerByMs - budgetMs / 2, options.cancellation);
      if (entry !== 'admitted') {
        const outcome = await entry;
        if (outcome !== 'admitted') return failOpen(outcome, mode, attrs, { eventType });
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
        return failOpen(code, mode, attrs, {
          eventType,
          // A skipped call (circuit open, overloaded) is no RTI call: nothing to time.
          ...(isRtiSkip(code) ? {} : { rti: { outcome: code, durationMs } }),
          failureDetail: err.message,
        });
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
      return decision(outcome.action, outcome.reason, mode, attrs, {
        eventType,
        verdict,
        rule: outcome.rule,
        rti: rtiCall,
        challenge: outcome.challenge,
        ...(outcome.location === undefined ? {} : { location: outcome.location }),
        ...(outcome.would === undefined ? {} : { would: outcome.would }),
      });
    } catch (err: unknown) {
      // A bug of ours must never become the site's outage: allow, and say why.
      return failOpen('internal_error', mode, attrs, { failureDetail: String(err) });
    }
  };

  function timeBudgetMs(deadlineMs: number | undefined): number {
    if (deadlineMs === undefined || !Number.isFinite(deadlineMs)) return config.timeoutMs;
    return Math.min(config.timeoutMs, Math.floor(deadlineMs - now() - config.deadlineMarginMs));
  }

  function allowWithout(reason: DecisionReason, mode: Mode, attrs: RequestAttributes): Decision {
    return decision('allow', reason, mode, attrs, {});
  }

  function failOpen(
    cause: FailureCause,
    mode: Mode,
    attrs: RequestAttributes,
    extra: Pick<DecisionExtra, 'eventType' | 'rti' | 'failureDetail'>,
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

function buildDecision(
  config: CoreConfig,
  site: string,
  action: Action,
  reason: DecisionReason,
  mode: Mode,
  attrs: RequestAttributes,
  extra: DecisionExtra,
): Decision {
  const { verdict, challenge = false, ...rest } = extra;
  const upstream =
    action === 'allow'
      ? upstreamVerdictHeaders(config.verdictHeaderNames, reason, verdict, challenge, attrs.headers)
      : undefined;
  return {
    action,
    reason,
    mode,
    site,
    httpStatus: statusOf(action),
    upstreamHeaders: upstream?.set ?? [],
    upstreamHeadersToRemove: upstream?.remove ?? [],
    ...rest,
    ...(verdict === undefined ? {} : { verdict }),
    ...(verdict?.setCookie === undefined ? {} : { setCookie: verdict.setCookie }),
    ...(action === 'deny' ? { body: renderDenyBody(attrs.headers, attrs.requestId) } : {}),
    ...clientHeadersOf(config, action, verdict, attrs.requestId),
  };
}

/** The proxy's request id, echoed to the client on v4.1 (rti-api.md §5.1). */
export const CDN_REQUEST_ID_HEADER = 'x-cheq-cdn-request-id';
/** A request id that can travel in a response header as is. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/**
 * v4.1 echoes the proxy's request id to the client as CHEQ's edge does; debug_rti_result echoes
 * the verdict the upstream got. Values that could not travel in a header are left out.
 */
function clientHeadersOf(
  config: CoreConfig,
  action: Action,
  verdict: RtiVerdict | undefined,
  requestId: string | undefined,
): Pick<Decision, 'clientHeaders'> {
  const headers: (readonly [string, string])[] = [];
  if (config.apiVersion === 'v4.1' && requestId !== undefined && HEADER_SAFE.test(requestId)) {
    headers.push([CDN_REQUEST_ID_HEADER, requestId]);
  }
  if (config.debugRtiResult && action === 'allow' && verdict?.rtiResult !== undefined) {
    headers.push([RTI_RESULT_HEADER, verdict.rtiResult]);
  }
  return headers.length === 0 ? {} : { clientHeaders: headers };
}

interface DecisionExtra {
  readonly eventType?: string;
  readonly verdict?: RtiVerdict;
  readonly rule?: string;
  readonly challenge?: boolean;
  readonly location?: string;
  readonly would?: Decision['would'];
  readonly failure?: FailureCause;
  readonly failureDetail?: string;
  readonly rti?: { readonly outcome: 'ok' | RtiCallErrorCode; readonly durationMs: number };
}

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
