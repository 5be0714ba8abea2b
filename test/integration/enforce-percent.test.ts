// Gradual enforcement over a real socket: the real server in blocking mode with enforce_percent,
// a grpc-js client built from the upstream Envoy protos, and a fake RTI that calls every visitor a bot.

import { strict as assert } from 'node:assert';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';
import { decisionHeader } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { verdict } from '../helpers/fake-rti-server';
import { rtiPerSuite } from '../helpers/rti-per-test';
import { metricValue, startService, type TestService } from '../helpers/start-service';

const VISITORS = 1000;
const BOT_HEADERS = { 'user-agent': 'price-bot/2.1', accept: 'application/json' };
/** Checks in flight at once: enough to be quick, few enough to stay clear of overload shedding. */
const CONCURRENCY = 50;

/** The `n`th visitor's request: an address and a CHEQ cookie of its own, on `path`. */
function visit(n: number, path: string, contextExtensions: Record<string, string> = {}): unknown {
  return envoyCheckRequest({
    url: `https://shop.example.com${path}`,
    headers: { ...BOT_HEADERS, cookie: `_cheq_rti=visitor-${n}` },
    peer: `198.18.${n >> 8}.${n & 255}`,
    contextExtensions,
    requestId: `req-${n}`,
  });
}

/** `deny 403`, or `allow` and the x-cheq-decision the upstream was told. */
function answerOf(response: CheckResponse__Output): string {
  if (response.http_response === 'denied_response') {
    assert.equal(response.status?.code, 7, 'a deny is PERMISSION_DENIED');
    return `deny ${response.denied_response?.status?.code ?? '?'}`;
  }
  assert.equal(response.status?.code ?? 0, 0, 'an allow is OK');
  return `allow ${decisionHeader(response) ?? '?'}`;
}

async function answersTo(svc: TestService, requests: readonly unknown[]): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < requests.length; i += CONCURRENCY) {
    const batch = requests.slice(i, i + CONCURRENCY).map(r => svc.check(r));
    for (const response of await Promise.all(batch)) answers.push(answerOf(response));
  }
  return answers;
}

function count(answers: readonly string[], answer: string): number {
  return answers.filter(a => a === answer).length;
}

function notEnforced(metrics: string): { decisions: number; would: number } {
  return {
    decisions: metricValue(metrics, 'cheq_authz_decisions_total', {
      transport: 'grpc',
      action: 'allow',
      reason: 'not_enforced',
    }),
    would: metricValue(metrics, 'cheq_authz_monitoring_would_act_total', {
      transport: 'grpc',
      action: 'deny',
      reason: 'threat_block',
    }),
  };
}

describe('gradual enforcement: enforce_percent (integration)', function () {
  this.timeout(60_000);
  const suite = rtiPerSuite();

  beforeEach(() => {
    suite.rti.reset();
    suite.rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
  });

  async function start(env: Record<string, string>): Promise<TestService> {
    // A generous RTI budget: a fail-open under a busy test machine is no answer to compare.
    suite.service = await startService(suite.rti.url, {
      CHEQ_MODE: 'blocking',
      CHEQ_TIMEOUT_MS: '2000',
      ...env,
    });
    return suite.service;
  }

  it('blocks 30 % of distinct bot visitors, the same ones on every visit, and counts the rest as not_enforced', async () => {
    const svc = await start({ CHEQ_ENFORCE_PERCENT: '30' });
    const ids = Array.from({ length: VISITORS }, (_, n) => n);

    const first = await answersTo(
      svc,
      ids.map(n => visit(n, '/products/7?color=red')),
    );
    const denied = count(first, 'deny 403');
    const allowed = count(first, 'allow not_enforced');
    assert.equal(denied + allowed, VISITORS, `other answers: ${[...new Set(first)].join(', ')}`);
    assert.ok(Math.abs(denied / VISITORS - 0.3) <= 0.05, `${denied} of ${VISITORS} denied`);
    assert.deepEqual(notEnforced(await svc.metrics()), { decisions: allowed, would: allowed });

    const again = await answersTo(
      svc,
      ids.map(n => visit(n, '/cart')),
    );
    assert.deepEqual(again, first, 'a visitor gets the same answer on every visit');
    assert.deepEqual(notEnforced(await svc.metrics()), {
      decisions: 2 * allowed,
      would: 2 * allowed,
    });
    assert.equal(suite.rti.calls.length, 2 * VISITORS, 'every visit was put to RTI');
  });

  it('blocks every bot visitor on a route with cheq_enforce_percent "100"', async () => {
    const svc = await start({ CHEQ_ENFORCE_PERCENT: '30' });
    const route = { cheq_enforce_percent: '100' };
    const answers = await answersTo(
      svc,
      Array.from({ length: VISITORS }, (_, n) => visit(n, '/checkout', route)),
    );
    assert.equal(count(answers, 'deny 403'), VISITORS);
    assert.deepEqual(notEnforced(await svc.metrics()), { decisions: 0, would: 0 });
  });

  it('gives one bot from one IP one outcome, whatever cookie or User-Agent it sends', async () => {
    const svc = await start({ CHEQ_ENFORCE_PERCENT: '50' });
    const from = (n: number, headers: Record<string, string>): unknown =>
      envoyCheckRequest({ headers, peer: '198.51.100.23', requestId: `req-${n}` });
    const byCookie = Array.from({ length: 40 }, (_, n) =>
      from(n, { ...BOT_HEADERS, cookie: `_cq_duid=bot${n}; _cheq_rti=bot${n}` }),
    );
    const byAgent = Array.from({ length: 40 }, (_, n) =>
      from(n, { ...BOT_HEADERS, 'user-agent': `price-bot/${n}` }),
    );
    const answers = new Set(await answersTo(svc, [...byCookie, ...byAgent]));
    assert.equal(answers.size, 1, `answers: ${[...answers].join(', ')}`);
  });

  it('tells visitors apart by client IP', async () => {
    const svc = await start({ CHEQ_ENFORCE_PERCENT: '30' });
    const requests = Array.from({ length: VISITORS }, (_, n) =>
      envoyCheckRequest({
        headers: BOT_HEADERS,
        peer: `198.19.${n >> 8}.${n & 255}`,
        requestId: `req-${n}`,
      }),
    );
    const first = await answersTo(svc, requests);
    const denied = count(first, 'deny 403');
    assert.equal(denied + count(first, 'allow not_enforced'), VISITORS);
    assert.ok(Math.abs(denied / VISITORS - 0.3) <= 0.05, `${denied} of ${VISITORS} denied`);
    assert.deepEqual(await answersTo(svc, requests), first);
  });
});
