// Wraps the decision core with what operators see: metrics for every check, one log line per
// non-allow decision, throttled warnings for fail-opens and verdict memory blocks, every decision
// at debug.

import { performance } from 'node:perf_hooks';
import type { Decide } from '../core/decide';
import type { Decision } from '../core/decision';
import type { RequestAttributes } from '../core/request-attributes';
import { isInvalid } from '../core/rti-port';
import type { Logger } from './logger';
import { LogThrottle } from './log-throttle';
import { threatTypeLabel, type Metrics } from './metrics';

const FAIL_OPEN_LOG_INTERVAL_MS = 1000;
const MAX_LOGGED_PATH = 256;

export function observeDecisions(decide: Decide, metrics: Metrics, log: Logger): Decide {
  const throttle = new LogThrottle(FAIL_OPEN_LOG_INTERVAL_MS);

  return async function observedDecide(attrs, options) {
    // A page rendered from its ticket was counted and logged as the check that issued it.
    if (options?.pageTicket !== undefined) return decide(attrs, options);
    const { transport } = attrs;
    const started = performance.now();
    const gauge = metrics.checksInFlight.labels(transport);
    gauge.inc();
    try {
      const decision = await decide(attrs, options);
      const durationMs = performance.now() - started;
      count(attrs, decision, durationMs);
      writeLog(attrs, decision, durationMs);
      return decision;
    } finally {
      gauge.dec();
    }
  };

  function count(attrs: RequestAttributes, decision: Decision, durationMs: number): void {
    const { transport } = attrs;
    const { site } = decision;
    metrics.decisions.labels(transport, decision.action, decision.reason, site).inc();
    metrics.checkDuration.labels(transport).observe(durationMs / 1000);
    if (decision.rti) {
      const { outcome } = decision.rti;
      metrics.rtiRequests.labels(outcome).inc();
      metrics.rtiDuration.labels(outcome).observe(decision.rti.durationMs / 1000);
    }
    const { verdict, failure } = decision;
    // Keyed by label, not code: RTI's codes are not a bounded set.
    if (verdict) {
      metrics.threatTypes.labels(threatTypeLabel(verdict.code), String(isInvalid(verdict))).inc();
      metrics.verdicts.labels(verdict.verdict, decision.rule ?? '', site).inc();
    }
    if (failure) metrics.failOpen.labels(transport, failure, site).inc();
    if (decision.remembered)
      metrics.verdictMemoryHits.labels(site, decision.remembered.cause).inc();
    if (decision.would) metrics.monitoringWouldAct.inc({ transport, site, ...decision.would });
    const { challengeEvent } = decision;
    if (challengeEvent) {
      metrics.challenges.labels(site, challengeEvent.provider, challengeEvent.outcome).inc();
    }
  }

  function writeLog(attrs: RequestAttributes, decision: Decision, durationMs: number): void {
    const acted = decision.action !== 'allow' || decision.would !== undefined;
    const { remembered, failure } = decision;
    const failed = failure !== undefined || remembered !== undefined;
    const level = failed ? 'warn' : acted ? 'info' : 'debug';
    if (!log.isLevelEnabled(level)) return;
    // Throttled lines are admitted before their fields are built: in a flood nearly all of them
    // are suppressed. Remembered blocks have their own key: a flood of them must not hide the
    // plain fail-opens, nor they it.
    const throttleKey = remembered ? `remembered:${remembered.cause}` : failure;
    const suppressed = throttleKey === undefined ? 0 : throttle.admit(throttleKey);
    if (suppressed === undefined) return;
    const fields: Record<string, unknown> = {
      requestId: attrs.requestId,
      transport: attrs.transport,
      action: decision.action,
      reason: decision.reason,
      mode: decision.mode,
      site: decision.site,
      eventType: decision.eventType,
      verdict: decision.verdict?.verdict,
      threatTypeCode: decision.verdict?.code,
      reasons: decision.verdict?.reasons.length ? decision.verdict.reasons : undefined,
      riskScore: decision.verdict?.riskScore,
      rule: decision.rule,
      rtiRequestId: decision.verdict?.requestId,
      rayId: decision.verdict?.rayId,
      rtiMs: decision.rti && round(decision.rti.durationMs),
      durationMs: round(durationMs),
      method: attrs.method,
      path: attrs.path.slice(0, MAX_LOGGED_PATH),
      would: decision.would,
      challenge: decision.challengeEvent,
    };
    if (remembered) {
      const blocked = decision.reason === 'remembered_block';
      log.warn(
        {
          ...fields,
          failure: remembered.cause,
          detail: decision.failureDetail,
          memoryKey: remembered.key,
          memoryExpiresAt: new Date(remembered.expiresAtMs).toISOString(),
          suppressed,
        },
        `${blocked ? 'blocked' : 'would block'} from verdict memory: RTI could not be asked`,
      );
      return;
    }
    if (failure) {
      log.warn({ ...fields, failure, detail: decision.failureDetail, suppressed }, 'failed open');
      return;
    }
    log[level](fields, 'decision');
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
