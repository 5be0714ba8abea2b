import { strict as assert } from 'node:assert';
import { Registry } from 'prom-client';
import {
  CHALLENGE_OUTCOMES,
  FAILURE_CAUSES,
  type ChallengeEvent,
  type Decision,
  type FailureCause,
} from '../../../src/core/decision';
import { RTI_CALL_ERROR_CODES, type RtiCallErrorCode } from '../../../src/core/rti-port';
import { createLogger } from '../../../src/observability/logger';
import { createMetrics } from '../../../src/observability/metrics';
import { observeDecisions } from '../../../src/observability/observe-decisions';
import { makeAttributes } from '../core/make-attributes';

function failedOpen(failure: FailureCause): Decision {
  const isCall = (RTI_CALL_ERROR_CODES as readonly string[]).includes(failure);
  return {
    action: 'allow',
    reason: 'fail_open',
    httpStatus: 200,
    upstreamHeaders: [],
    upstreamHeadersToRemove: [],
    mode: 'blocking',
    site: 'default',
    failure,
    failureDetail: `simulated ${failure}`,
    ...(isCall ? { rti: { outcome: failure as RtiCallErrorCode, durationMs: 5 } } : {}),
  };
}

/** The non-zero samples of one metric, as `label=value,...` -> value. */
function counted(exposition: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const [, labels, value] of exposition.matchAll(
    new RegExp(`^${name}\\{(.*)\\} (\\S+)$`, 'gm'),
  )) {
    if (Number(value) !== 0) found.set(labels!.replaceAll('"', ''), Number(value));
  }
  return found;
}

/** Our metrics on a fresh registry and an `info` logger whose lines are kept. */
function observing(sites: readonly string[]) {
  const registry = new Registry();
  const metrics = createMetrics(registry, { version: '1', sites, processMetrics: false }, () => ({
    inFlight: 0,
    admissionWaiting: undefined,
    pool: { connected: 0, free: 0, pending: 0, running: 0 },
  }));
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', {
    write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { registry, metrics, lines, log };
}

describe('observeDecisions', () => {
  it('spells each failure the same in the log line, the fail-open cause and the RTI result', async () => {
    const { registry, metrics, lines, log } = observing(['default']);
    for (const failure of FAILURE_CAUSES) {
      const decide = observeDecisions(() => Promise.resolve(failedOpen(failure)), metrics, log);
      await decide(makeAttributes());
    }
    const exposition = await registry.metrics();

    assert.deepEqual(
      lines.map(line => [line['msg'], line['failure']]),
      FAILURE_CAUSES.map(failure => ['failed open', failure]),
    );
    assert.deepEqual(
      counted(exposition, 'cheq_authz_fail_open_total'),
      new Map(FAILURE_CAUSES.map(cause => [`transport=grpc,cause=${cause},site=default`, 1])),
    );
    assert.deepEqual(
      counted(exposition, 'cheq_authz_rti_requests_total'),
      new Map(RTI_CALL_ERROR_CODES.map(result => [`result=${result}`, 1])),
    );
  });

  describe('challenges', () => {
    const readings = () => ({
      inFlight: 0,
      admissionWaiting: undefined,
      pool: { connected: 0, free: 0, pending: 0, running: 0 },
    });
    const challenged = (site: string, challengeEvent?: ChallengeEvent): Decision => ({
      action: 'allow',
      reason: 'valid',
      httpStatus: 200,
      upstreamHeaders: [],
      upstreamHeadersToRemove: [],
      mode: 'blocking',
      site,
      ...(challengeEvent ? { challengeEvent } : {}),
    });

    async function observe(decisions: readonly Decision[]): Promise<string> {
      const registry = new Registry();
      const metrics = createMetrics(
        registry,
        {
          version: '1.2.3',
          sites: ['default', 'shop'],
          processMetrics: false,
          challengeProviders: [
            ['default', 'browser'],
            ['shop', 'turnstile'],
          ],
        },
        readings,
      );
      const log = createLogger('silent', { write: () => undefined });
      for (const decision of decisions) {
        await observeDecisions(() => Promise.resolve(decision), metrics, log)(makeAttributes());
      }
      return registry.metrics();
    }

    it("counts each decision's challenge event by site, provider and outcome", async () => {
      const exposition = await observe([
        challenged('default', { provider: 'browser', outcome: 'served' }),
        challenged('default', { provider: 'browser', outcome: 'served' }),
        challenged('default', { provider: 'browser', outcome: 'passed' }),
        challenged('shop', { provider: 'turnstile', outcome: 'loop' }),
        challenged('shop', { provider: 'turnstile', outcome: 'would_serve' }),
        challenged('shop'),
      ]);
      assert.deepEqual(
        counted(exposition, 'cheq_authz_challenges_total'),
        new Map([
          ['site=default,provider=browser,outcome=served', 2],
          ['site=default,provider=browser,outcome=passed', 1],
          ['site=shop,provider=turnstile,outcome=loop', 1],
          ['site=shop,provider=turnstile,outcome=would_serve', 1],
        ]),
      );
    });

    it('exports every outcome of each configured provider from the start, at 0', async () => {
      const exposition = await observe([]);
      const series = [...exposition.matchAll(/^cheq_authz_challenges_total\{(.*)\} 0$/gm)].map(
        match => match[1]!.replaceAll('"', ''),
      );
      assert.deepEqual(
        series.sort(),
        [
          ...CHALLENGE_OUTCOMES.map(outcome => `site=default,provider=browser,outcome=${outcome}`),
          ...CHALLENGE_OUTCOMES.map(outcome => `site=shop,provider=turnstile,outcome=${outcome}`),
        ].sort(),
      );
    });

    it('logs the challenge event with the decision', async () => {
      const lines: Record<string, unknown>[] = [];
      const registry = new Registry();
      const metrics = createMetrics(
        registry,
        { version: '1.2.3', sites: ['default'], processMetrics: false },
        readings,
      );
      const log = createLogger('debug', {
        write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
      });
      const event: ChallengeEvent = { provider: 'recaptcha-v3', outcome: 'failed' };
      await observeDecisions(
        () => Promise.resolve(challenged('default', event)),
        metrics,
        log,
      )(makeAttributes());
      assert.deepEqual(
        lines.map(line => line['challenge']),
        [event],
      );
    });
  });
  describe('verdict memory', () => {
    const EXPIRES_AT_MS = Date.UTC(2026, 11, 6, 18, 0, 0);
    const remembered = (mode: 'blocking' | 'monitoring', cause: FailureCause): Decision => ({
      action: mode === 'blocking' ? 'deny' : 'allow',
      reason: mode === 'blocking' ? 'remembered_block' : 'fail_open',
      httpStatus: mode === 'blocking' ? 403 : 200,
      upstreamHeaders: [],
      upstreamHeadersToRemove: [],
      mode,
      site: 'shop',
      ...(mode === 'monitoring'
        ? { failure: cause, would: { action: 'deny', reason: 'remembered_block' } }
        : {}),
      remembered: { cause, key: 'ip_ua', expiresAtMs: EXPIRES_AT_MS },
      failureDetail: `simulated ${cause}`,
    });

    async function observe(decisions: readonly Decision[]) {
      const { registry, metrics, lines, log } = observing(['shop']);
      // One observer for them all: its log throttle sees every decision.
      let next = decisions[0];
      const observed = observeDecisions(() => Promise.resolve(next as Decision), metrics, log);
      for (next of decisions) await observed(makeAttributes());
      return { exposition: await registry.metrics(), lines };
    }

    it('counts a remembered block as a hit by cause, protected, and not as a fail-open', async () => {
      const { exposition } = await observe([
        remembered('blocking', 'rti_timeout'),
        remembered('blocking', 'overloaded'),
      ]);
      assert.deepEqual(
        counted(exposition, 'cheq_authz_verdict_memory_hits_total'),
        new Map([
          ['site=shop,cause=rti_timeout', 1],
          ['site=shop,cause=overloaded', 1],
        ]),
      );
      assert.deepEqual(
        counted(exposition, 'cheq_authz_decisions_total'),
        new Map([['transport=grpc,action=deny,reason=remembered_block,site=shop', 2]]),
      );
      assert.deepEqual(counted(exposition, 'cheq_authz_fail_open_total'), new Map());
    });

    it("counts monitoring's remembered would-block as a hit, a fail-open and a would-act", async () => {
      const { exposition } = await observe([remembered('monitoring', 'rti_connect_error')]);
      const labels = 'site=shop,cause=rti_connect_error';
      assert.deepEqual(
        counted(exposition, 'cheq_authz_verdict_memory_hits_total'),
        new Map([[labels, 1]]),
      );
      assert.deepEqual(
        counted(exposition, 'cheq_authz_fail_open_total'),
        new Map([[`transport=grpc,cause=rti_connect_error,site=shop`, 1]]),
      );
      assert.deepEqual(
        counted(exposition, 'cheq_authz_monitoring_would_act_total'),
        new Map([['transport=grpc,action=deny,reason=remembered_block,site=shop', 1]]),
      );
    });

    it('logs a warning with the cause, the key and the expiry, throttled apart from fail-opens', async () => {
      const { lines } = await observe([
        remembered('blocking', 'rti_timeout'),
        remembered('blocking', 'rti_timeout'),
        failedOpen('rti_timeout'),
        remembered('monitoring', 'rti_circuit_open'),
      ]);
      assert.deepEqual(
        lines.map(line => [line['level'], line['msg'], line['failure'], line['memoryKey']]),
        [
          ['warn', 'blocked from verdict memory: RTI could not be asked', 'rti_timeout', 'ip_ua'],
          ['warn', 'failed open', 'rti_timeout', undefined],
          [
            'warn',
            'would block from verdict memory: RTI could not be asked',
            'rti_circuit_open',
            'ip_ua',
          ],
        ],
      );
      assert.equal(lines[0]?.['memoryExpiresAt'], '2026-12-06T18:00:00.000Z');
      assert.equal(lines[0]?.['reason'], 'remembered_block');
    });
  });
});
