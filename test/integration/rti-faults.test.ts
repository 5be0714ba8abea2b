// Every way RTI can fail, injected for real over loopback, in bursts: each check is allowed
// (fail open), never before the timeout when the fault is waiting, the right metric moves, and
// nothing is left behind: no request stuck in the pool, no extra sockets or timers in the process.
// No upper bound in milliseconds: a fault that waits never ends by itself (or ends in a valid
// verdict), so an answer failed open at all shows the timeout cut the call.

import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { decisionHeader } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, type RtiBehaviour } from '../helpers/fake-rti-server';
import { TIMER_EARLY_MS } from '../helpers/load';
import { rtiPerSuite } from '../helpers/rti-per-test';
import { metricValue, startService, type TestService } from '../helpers/start-service';

/** RTI budget where the fault makes the client wait: each such check takes this long. */
const TIMEOUT_MS = 100;
/**
 * RTI budget where the fault is an answer: calls queued on the 8 connections of a busy machine
 * must not time out first, or they would be counted under another cause.
 */
const ANSWERED_TIMEOUT_MS = 10_000;
const BURST = 40;
const CONNECTIONS = 8;

interface Fault {
  readonly name: string;
  readonly behaviour?: RtiBehaviour;
  /** Endpoint to use instead of the fake RTI. */
  readonly endpoint?: () => Promise<string>;
  /** Acceptable fail-open causes (metric label). */
  readonly causes: readonly string[];
}

const closedPort = async (): Promise<string> => {
  const fake = await FakeRti.start();
  const { url } = fake;
  await fake.close();
  return url;
};

const FAULTS: readonly Fault[] = [
  { name: 'connection refused', endpoint: closedPort, causes: ['rti_connect_error'] },
  { name: 'accepting but never answering', behaviour: { kind: 'hang' }, causes: ['rti_timeout'] },
  {
    name: 'headers, then a stalled body',
    behaviour: { kind: 'stall-body' },
    causes: ['rti_timeout'],
  },
  {
    name: 'a very slow body',
    behaviour: { kind: 'drip', intervalMs: 20 },
    causes: ['rti_timeout'],
  },
  {
    name: 'a reset mid-body',
    behaviour: { kind: 'reset-mid-body' },
    // On a loaded machine the reset can arrive after the deadline.
    causes: ['rti_connect_error', 'rti_timeout'],
  },
  {
    name: 'HTTP 401',
    behaviour: { kind: 'raw', status: 401, body: '{"error":"bad key"}' },
    causes: ['rti_http_status'],
  },
  {
    name: 'HTTP 500',
    behaviour: { kind: 'raw', status: 500, body: 'oops' },
    causes: ['rti_http_status'],
  },
  {
    name: 'HTML instead of JSON',
    behaviour: { kind: 'raw', status: 200, body: '<html>maintenance</html>' },
    causes: ['rti_bad_response'],
  },
  {
    name: 'a huge body (read is capped)',
    behaviour: {
      kind: 'raw',
      status: 200,
      body: `{"pad":"${'x'.repeat(1024 * 1024)}"}`,
      contentType: 'application/json',
    },
    // Queued behind other 1 MiB answers on the 8 connections, some time out first.
    causes: ['rti_bad_response', 'rti_timeout'],
  },
  {
    name: 'a DNS name that does not resolve',
    endpoint: () => Promise.resolve('http://cheq-rti.invalid'),
    causes: ['rti_connect_error', 'rti_timeout'],
  },
];

const badJson = (name: string, body: string): Fault => ({
  name,
  behaviour: { kind: 'raw', status: 200, body, contentType: 'application/json' },
  causes: ['rti_bad_response'],
});

/** Answers that hold no verdict, in each API generation's terms. */
const BAD_ANSWERS: Readonly<Record<'v1' | 'v4', readonly Fault[]>> = {
  v1: [
    badJson('JSON of the wrong shape', '{"verdict":"bot"}'),
    badJson('isInvalid that is not a boolean', '{"isInvalid":"yes","threatTypeCode":2}'),
    badJson(
      'a v4 answer to a v1 call',
      '{"decision":{"verdict":"malicious"},"classification":{"code":2}}',
    ),
  ],
  v4: [
    badJson('JSON of the wrong shape', '{"verdict":"bot"}'),
    badJson('a v1 answer to a v4 call (no decision)', '{"isInvalid":true,"threatTypeCode":2}'),
    badJson('an unknown verdict', '{"decision":{"verdict":"bot"},"classification":{"code":2}}'),
    badJson('no classification code', '{"decision":{"verdict":"malicious"},"classification":{}}'),
  ],
};

/** /metrics once no RTI call is in flight or queued any more (at most 10 s). */
async function settled(svc: TestService): Promise<string> {
  const until = Date.now() + 10_000;
  for (;;) {
    const metrics = await svc.metrics();
    const busy =
      metricValue(metrics, 'cheq_authz_rti_in_flight') +
      metricValue(metrics, 'cheq_authz_rti_pool', { stat: 'pending' }) +
      metricValue(metrics, 'cheq_authz_rti_pool', { stat: 'running' });
    if (busy === 0 || Date.now() > until) return metrics;
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

/** Sockets and servers this process holds. */
function sockets(): Record<string, number> {
  const counts: Record<string, number> = { TCPSocketWrap: 0, TCPServerWrap: 0 };
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind in counts) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/** Waits (up to 5 s, a bound on "never", not on speed) until no more sockets than before. */
async function socketsBackTo(before: Record<string, number>): Promise<Record<string, number>> {
  const until = Date.now() + 5000;
  for (;;) {
    const now = sockets();
    const back = Object.entries(now).every(([kind, n]) => n <= (before[kind] ?? 0));
    if (back || Date.now() > until) return now;
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

for (const apiVersion of ['v1', 'v4'] as const) describeFaults(apiVersion);

function describeFaults(apiVersion: 'v1' | 'v4'): void {
  describe(`RTI ${apiVersion} faults, in bursts (integration)`, function () {
    this.timeout(20_000);
    const suite = rtiPerSuite();

    afterEach(() => {
      suite.rti.reset();
    });

    for (const fault of [...FAULTS, ...BAD_ANSWERS[apiVersion]]) {
      it(`fails open on ${fault.name}, leaving nothing behind`, async () => {
        if (fault.behaviour) {
          const behaviour = fault.behaviour;
          suite.rti.behaviour = () => behaviour;
        }
        const endpoint = fault.endpoint ? await fault.endpoint() : suite.rti.url;
        const waits = fault.causes.includes('rti_timeout');
        const before = sockets();
        const svc = await startService(endpoint, {
          CHEQ_API_VERSION: apiVersion,
          CHEQ_MODE: 'blocking',
          CHEQ_TIMEOUT_MS: String(waits ? TIMEOUT_MS : ANSWERED_TIMEOUT_MS),
          CHEQ_RTI_CONNECTIONS: String(CONNECTIONS),
          CHEQ_RTI_CIRCUIT_BREAKER: 'false',
          // The RTI client under faults, its pool full: no admission line in front of it.
          CHEQ_OVERLOAD_SHEDDING: 'false',
          // The whole burst on the test's one connection at once, none waiting in the client.
          CHEQ_GRPC_MAX_CONCURRENT_STREAMS: String(BURST),
          CHEQ_LOG_LEVEL: 'warn',
        });
        suite.service = svc;
        await svc.check(envoyCheckRequest({ url: 'https://a.example/warm-up' }));

        const latencies = await Promise.all(
          Array.from({ length: BURST }, async (_, i) => {
            const started = performance.now();
            const response = await svc.check(envoyCheckRequest({ requestId: `burst-${i}` }));
            const elapsed = performance.now() - started;
            assert.equal(response.status?.code ?? 0, 0, 'allowed');
            assert.equal(decisionHeader(response), 'fail_open');
            return elapsed;
          }),
        );
        if (fault.causes.every(cause => cause === 'rti_timeout')) {
          const fastest = Math.min(...latencies);
          assert.ok(
            fastest >= TIMEOUT_MS - TIMER_EARLY_MS,
            `answered ${fastest.toFixed(1)} ms after, before the timeout`,
          );
        }

        // A DNS lookup can outlive the deadline: the call is answered, undici lets go later.
        const metrics = await settled(svc);
        const counted = fault.causes.reduce(
          (sum, cause) => sum + metricValue(metrics, 'cheq_authz_fail_open_total', { cause }),
          0,
        );
        assert.equal(counted, BURST + 1, `fail_open_total{cause=${fault.causes.join('|')}}`);
        for (const stat of ['running', 'pending']) {
          assert.equal(metricValue(metrics, 'cheq_authz_rti_pool', { stat }), 0, `pool ${stat}`);
        }
        assert.ok(
          metricValue(metrics, 'cheq_authz_rti_pool', { stat: 'connected' }) <= CONNECTIONS,
        );
        assert.equal(metricValue(metrics, 'cheq_authz_rti_in_flight'), 0);
        assert.equal(metricValue(metrics, 'cheq_authz_checks_in_flight', { transport: 'grpc' }), 0);

        await svc.close();
        suite.service = undefined;
        const after = await socketsBackTo(before);
        for (const [kind, n] of Object.entries(after)) {
          assert.ok(n <= (before[kind] ?? 0), `${kind} left behind: ${n} > ${before[kind] ?? 0}`);
        }
      });
    }

    it('reads at most 64 KiB of an RTI answer', async () => {
      const valid =
        apiVersion === 'v1'
          ? { isInvalid: false, threatTypeCode: 0 }
          : { decision: { verdict: 'benign' }, classification: { code: 0 } };
      suite.rti.behaviour = () => ({
        kind: 'raw',
        status: 200,
        body: JSON.stringify({ ...valid, pad: 'x'.repeat(70 * 1024) }),
        contentType: 'application/json',
      });
      suite.service = await startService(suite.rti.url, {
        CHEQ_API_VERSION: apiVersion,
        CHEQ_RTI_CIRCUIT_BREAKER: 'false',
      });
      const response = await suite.service.check(envoyCheckRequest());
      assert.equal(decisionHeader(response), 'fail_open');
      const warning = suite.service.logs.find(l => l['msg'] === 'failed open');
      assert.match(String(warning?.['detail']), /exceeds 65536 bytes/);
    });
  });
}
