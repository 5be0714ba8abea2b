// Protection under load, over real sockets: the circuit breaker opens on evidence that RTI is
// failing (refusals, HTTP errors, timeouts while the process was responsive) and never on our
// own lag; half-open probes; a saturated process sheds its excess as `overloaded` while the
// checks it admits keep getting real verdicts.

import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { metricValue, startService, type TestService } from '../helpers/start-service';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';

/** The x-cheq-decision header the upstream would get: `valid` from a verdict, else `fail_open`. */
function decisionOf(response: CheckResponse__Output): string | undefined {
  return response.ok_response?.headers?.find(h => h.header?.key === 'x-cheq-decision')?.header
    ?.value;
}

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function circuitState(svc: TestService): Promise<string> {
  const metrics = await svc.metrics();
  for (const state of ['closed', 'open', 'half_open']) {
    if (metricValue(metrics, 'cheq_authz_rti_circuit_state', { state }) === 1) return state;
  }
  return 'unknown';
}

/**
 * Sends checks at `perSecond` (without waiting for answers) until the circuit reaches `state`;
 * resolves with the time that took, rejects after `withinMs`.
 */
async function driveUntilCircuit(
  svc: TestService,
  state: string,
  perSecond: number,
  withinMs: number,
): Promise<number> {
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  try {
    while (performance.now() - started < withinMs) {
      for (let i = 0; i < perSecond / 20; i++) pending.push(svc.check(envoyCheckRequest()));
      await sleep(50);
      if ((await circuitState(svc)) === state) return performance.now() - started;
    }
    throw new Error(`circuit not ${state} within ${withinMs} ms: ${await circuitState(svc)}`);
  } finally {
    await Promise.all(pending);
  }
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise(resolve => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe('protection under load (integration)', function () {
  this.timeout(20_000);
  let rti: FakeRti;
  let service: TestService | undefined;

  beforeEach(async () => {
    rti = await FakeRti.start();
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await rti.close();
  });

  describe('circuit breaker', () => {
    it('does not open when our own event loop stalls (150 ms busy loops) and RTI answers on time', async () => {
      // Shedding off: the stalls would also shrink the admission limit, a separate matter.
      const svc = await startService(rti.url, {
        CHEQ_TIMEOUT_MS: '100',
        CHEQ_OVERLOAD_SHEDDING: 'false',
      });
      service = svc;
      let timeouts = 0;
      for (let round = 0; round < 4; round++) {
        rti.reset();
        // Answered 20 ms after the call arrives: while we are busy below.
        rti.behaviour = () => verdict({}, 20);
        const answers = Array.from({ length: 15 }, () => svc.check(envoyCheckRequest()));
        await rti.waitForCalls(15);
        // RTI answers during the stall; the answers wait in our sockets until it ends.
        busyFor(150);
        for (const response of await Promise.all(answers)) {
          if (decisionOf(response) === 'fail_open') timeouts++;
        }
      }
      const metrics = await svc.metrics();
      assert.ok(timeouts >= 20, `the stalls caused ${timeouts} timeouts (enough to open before)`);
      assert.equal(
        metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_timeout' }),
        timeouts,
      );
      assert.equal(metricValue(metrics, 'cheq_authz_rti_circuit_ignored_timeouts_total'), timeouts);
      assert.equal(await circuitState(svc), 'closed');
      rti.reset();
      assert.equal(decisionOf(await svc.check(envoyCheckRequest())), 'valid');
      assert.equal(
        metricValue(await svc.metrics(), 'cheq_authz_fail_open_total', {
          cause: 'rti_circuit_open',
        }),
        0,
      );
    });

    it('opens within 2 s of traffic when RTI refuses connections', async () => {
      const svc = await startService(await closedPortUrl());
      service = svc;
      const elapsed = await driveUntilCircuit(svc, 'open', 100, 2_000);
      assert.ok(elapsed <= 2_000, `opened after ${Math.round(elapsed)} ms`);
      assert.ok(
        metricValue(await svc.metrics(), 'cheq_authz_fail_open_total', {
          cause: 'rti_connect_error',
        }) >= 20,
      );
    });

    it('opens within 2 s when a healthy RTI starts answering 500, and closes once it recovers', async () => {
      const svc = await startService(rti.url, { CHEQ_RTI_CIRCUIT_OPEN_MS: '500' });
      service = svc;
      // A full window of successes first: the breaker must still see the outage quickly.
      await assert.rejects(driveUntilCircuit(svc, 'open', 100, 2_000), /not open/);
      rti.behaviour = () => ({ kind: 'raw', status: 500, body: 'internal error' });
      const elapsed = await driveUntilCircuit(svc, 'open', 100, 2_000);
      assert.ok(elapsed <= 2_000, `opened after ${Math.round(elapsed)} ms`);
      assert.ok(svc.logs.some(l => l['msg'] === 'RTI circuit open'));

      rti.behaviour = () => verdict({});
      await driveUntilCircuit(svc, 'closed', 100, 3_000);
      assert.ok(svc.logs.some(l => l['msg'] === 'RTI circuit closed: calling RTI again'));
      assert.equal(decisionOf(await svc.check(envoyCheckRequest())), 'valid');
    });

    it('opens within 5 s when RTI hangs while the process is responsive', async () => {
      const svc = await startService(rti.url, { CHEQ_TIMEOUT_MS: '100' });
      service = svc;
      await assert.rejects(driveUntilCircuit(svc, 'open', 100, 1_000), /not open/);
      rti.behaviour = () => ({ kind: 'hang' });
      const elapsed = await driveUntilCircuit(svc, 'open', 100, 5_000);
      assert.ok(elapsed <= 5_000, `opened after ${Math.round(elapsed)} ms`);
      const metrics = await svc.metrics();
      assert.ok(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_timeout' }) >= 20);
    });

    it('lets rti_circuit_probes calls through when half-open and closes after they all succeed', async () => {
      rti.behaviour = () => ({ kind: 'raw', status: 503, body: 'busy' });
      const svc = await startService(rti.url, {
        CHEQ_TIMEOUT_MS: '1000',
        CHEQ_RTI_CIRCUIT_OPEN_MS: '300',
        CHEQ_RTI_CIRCUIT_PROBES: '3',
        CHEQ_RTI_CIRCUIT_MIN_CALLS: '5',
      });
      service = svc;
      for (let i = 0; i < 5; i++) await svc.check(envoyCheckRequest());
      assert.equal(await circuitState(svc), 'open');

      rti.reset();
      rti.behaviour = () => verdict({}, 150);
      await sleep(320);
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => svc.check(envoyCheckRequest())),
      );
      const decisions = answers.map(decisionOf);
      assert.equal(rti.calls.length, 3, 'exactly the probes reached RTI');
      assert.equal(decisions.filter(d => d === 'valid').length, 3);
      assert.equal(decisions.filter(d => d === 'fail_open').length, 7);
      assert.equal(await circuitState(svc), 'closed');
      const changes = svc.logs.filter(l => typeof l['state'] === 'string').map(l => l['state']);
      assert.deepEqual(changes, ['open', 'half_open', 'closed']);
    });
  });

  describe('overload shedding', () => {
    /** Keeps the event loop delayed by ~`ms` on every turn until stopped. */
    function saturate(ms: number): () => void {
      let running = true;
      const spin = (): void => {
        if (!running) return;
        busyFor(ms);
        setImmediate(spin);
      };
      setImmediate(spin);
      return () => {
        running = false;
      };
    }

    /** Five waves of 150 concurrent checks with the given gRPC deadline, while saturated. */
    async function wavesWhileSaturated(svc: TestService, deadlineMs: number) {
      const stop = saturate(25);
      let decisions: (string | undefined)[] = [];
      let lowestLimit = Infinity;
      try {
        await sleep(100); // the monitor sees the loop delayed
        for (let wave = 0; wave < 5; wave++) {
          const answers = await Promise.all(
            Array.from({ length: 150 }, () => svc.check(envoyCheckRequest(), deadlineMs)),
          );
          decisions = decisions.concat(answers.map(decisionOf));
          const limit = metricValue(await svc.metrics(), 'cheq_authz_admission_limit');
          lowestLimit = Math.min(lowestLimit, limit);
        }
      } finally {
        stop();
      }
      const metrics = await svc.metrics();
      return {
        verdicts: decisions.filter(d => d === 'valid').length,
        overloaded: metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'overloaded' }),
        total: decisions.length,
        lowestLimit,
      };
    }

    const SATURATION_SETTINGS = {
      CHEQ_TIMEOUT_MS: '1000',
      CHEQ_OVERLOAD_EVENT_LOOP_DELAY_MS: '10',
      CHEQ_RTI_MAX_IN_FLIGHT: '200',
    };

    it('fails open as `overloaded` the checks that cannot start in time; the others get verdicts', async () => {
      const svc = await startService(rti.url, SATURATION_SETTINGS);
      service = svc;
      // 600 ms deadline: a check may wait in line 90 ms (until half of timeout_ms is left).
      const run = await wavesWhileSaturated(svc, 600);
      assert.ok(run.lowestLimit < 200, `the limit dropped to ${run.lowestLimit}`);
      assert.ok(run.overloaded > 0, 'some checks could not start in time');
      assert.equal(run.overloaded + run.verdicts, run.total, 'every other check got its verdict');
      assert.ok(run.verdicts >= 50, `${run.verdicts} checks got a verdict`);
      assert.equal(rti.calls.length, run.verdicts, 'shed checks never reached RTI');

      // Once the load is gone the limit grows back and nothing waits.
      await sleep(1_000);
      const metrics = await svc.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_admission_limit'), 200);
      assert.equal(metricValue(metrics, 'cheq_authz_admission_waiting'), 0);
      const calm = await Promise.all(
        Array.from({ length: 20 }, () => svc.check(envoyCheckRequest(), 600)),
      );
      assert.deepEqual(new Set(calm.map(decisionOf)), new Set(['valid']));
    });

    it('lets checks past the limit wait in line while their deadline allows, and gives them verdicts', async () => {
      const svc = await startService(rti.url, SATURATION_SETTINGS);
      service = svc;
      const run = await wavesWhileSaturated(svc, 5_000);
      assert.ok(run.lowestLimit < 150, `the limit dropped to ${run.lowestLimit}`);
      assert.equal(run.overloaded, 0);
      assert.equal(run.verdicts, run.total);
    });

    it('admits every check when overload_shedding is off', async () => {
      const svc = await startService(rti.url, {
        CHEQ_TIMEOUT_MS: '2000',
        CHEQ_OVERLOAD_SHEDDING: 'false',
        CHEQ_OVERLOAD_EVENT_LOOP_DELAY_MS: '10',
      });
      service = svc;
      const stop = saturate(25);
      try {
        await sleep(100);
        await Promise.all(Array.from({ length: 150 }, () => svc.check(envoyCheckRequest())));
        assert.equal(rti.calls.length, 150, 'every check went to RTI');
      } finally {
        stop();
      }
      const metrics = await svc.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'overloaded' }), 0);
      assert.doesNotMatch(metrics, /cheq_authz_admission_limit/, 'no limit to report');
    });
  });
});
