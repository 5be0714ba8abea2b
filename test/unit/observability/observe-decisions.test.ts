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

describe('observeDecisions', () => {
  it('spells each failure the same in the log line, the fail-open cause and the RTI result', async () => {
    const registry = new Registry();
    const metrics = createMetrics(
      registry,
      { version: '1.2.3', sites: ['default'], processMetrics: false },
      () => ({
        inFlight: 0,
        admissionWaiting: undefined,
        pool: { connected: 0, free: 0, pending: 0, running: 0 },
      }),
    );
    const lines: Record<string, unknown>[] = [];
    const log = createLogger('info', {
      write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
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
});
