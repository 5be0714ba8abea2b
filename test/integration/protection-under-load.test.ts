// Protection under load, over real sockets: the circuit breaker opens on evidence that RTI is
// failing (refusals, HTTP errors, timeouts while the process was responsive) and never on our
// own lag; half-open probes; a saturated process sheds its excess as `overloaded` while the
// checks it admits keep getting real verdicts.

import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { decisionHeader } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { verdict } from '../helpers/fake-rti-server';
import { closedPortUrl, rtiPerTest } from '../helpers/rti-per-test';
import { metricValue, startService, type TestService } from '../helpers/start-service';

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

/** Long enough for any machine to drive a circuit; a bound on "never", not on speed. */
const NEVER_MS = 15_000;

/**
 * Sends checks at `perSecond` (without waiting for answers) until the circuit reaches `state`;
 * rejects after `withinMs` (NEVER_MS unless the test drives a fixed stretch on purpose).
 */
async function driveUntilCircuit(
  svc: TestService,
  state: string,
  perSecond: number,
  withinMs = NEVER_MS,
): Promise<void> {
  const started = performance.now();
  const pending: Promise<unknown>[] = [];
  try {
    while (performance.now() - started < withinMs) {
      for (let i = 0; i < perSecond / 20; i++) pending.push(svc.check(envoyCheckRequest()));
      await sleep(50);
      if ((await circuitState(svc)) === state) return;
    }
    throw new Error(`circuit not ${state} within ${withinMs} ms: ${await circuitState(svc)}`);
  } finally {
    await Promise.all(pending);
  }
}

describe('protection under load (integration)', function () {
  this.timeout(2 * NEVER_MS);
  const test = rtiPerTest();

  describe('circuit breaker', () => {
    /**
     * RTI budget of the stalled rounds: far above what a busy machine takes to get a call to
     * the fake RTI in this same process (a call that has not reached it when its timer fires
     * is a real timeout). The stall outlasts it.
     */
    const STALL_TIMEOUT_MS = 300;
    const STALL_MS = 400;

    /** Four rounds of 15 checks, each round followed by a STALL_MS stall of our event loop. */
    async function stalledRounds(svc: TestService, rtiDelayMs: number) {
      const decisions: (string | undefined)[] = [];
      for (let round = 0; round < 4; round++) {
        test.rti.reset();
        test.rti.behaviour = () => verdict({}, rtiDelayMs);
        const answers = Array.from({ length: 15 }, () => svc.check(envoyCheckRequest()));
        await test.rti.waitForCalls(15);
        busyFor(STALL_MS);
        decisions.push(...(await Promise.all(answers)).map(decisionHeader));
      }
      return decisions;
    }

    it('reads the answers RTI sent in time while our event loop was stalled past the timeout', async () => {
      const svc = await startService(test.rti.url, { CHEQ_TIMEOUT_MS: String(STALL_TIMEOUT_MS) });
      test.service = svc;
      // RTI answers 20 ms after each call, during the stall: the answers wait unread in our
      // sockets when the timeout timers fire; they are read before any call is timed out.
      const decisions = await stalledRounds(svc, 20);
      assert.deepEqual(new Set(decisions), new Set(['valid']));
      assert.equal(await circuitState(svc), 'closed');
    });

    it('does not hold against RTI the timeouts of calls during which our event loop stalled', async () => {
      const svc = await startService(test.rti.url, { CHEQ_TIMEOUT_MS: String(STALL_TIMEOUT_MS) });
      test.service = svc;
      const decisions = await stalledRounds(svc, 2 * STALL_MS);
      const timeouts = decisions.filter(d => d === 'fail_open').length;
      assert.equal(timeouts, 60, 'every call timed out');
      const metrics = await svc.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_rti_circuit_ignored_timeouts_total'), 60);
      assert.equal(await circuitState(svc), 'closed', '60 timeouts would have opened it');
      test.rti.reset();
      assert.equal(decisionHeader(await svc.check(envoyCheckRequest())), 'valid');
      assert.equal(
        metricValue(await svc.metrics(), 'cheq_authz_fail_open_total', {
          cause: 'rti_circuit_open',
        }),
        0,
      );
    });

    it('opens under traffic when RTI refuses connections', async () => {
      const svc = await startService(await closedPortUrl());
      test.service = svc;
      await driveUntilCircuit(svc, 'open', 100);
      assert.ok(
        metricValue(await svc.metrics(), 'cheq_authz_fail_open_total', {
          cause: 'rti_connect_error',
        }) >= 20,
      );
    });

    it('opens when a healthy RTI starts answering 500, and closes once it recovers', async () => {
      const svc = await startService(test.rti.url, { CHEQ_RTI_CIRCUIT_OPEN_MS: '500' });
      test.service = svc;
      // A full window of successes first: the breaker must still see the outage.
      await assert.rejects(driveUntilCircuit(svc, 'open', 100, 2_000), /not open/);
      test.rti.behaviour = () => ({ kind: 'raw', status: 500, body: 'internal error' });
      await driveUntilCircuit(svc, 'open', 100);
      assert.ok(svc.logs.some(l => l['msg'] === 'RTI circuit open'));

      test.rti.behaviour = () => verdict({});
      await driveUntilCircuit(svc, 'closed', 100);
      assert.ok(svc.logs.some(l => l['msg'] === 'RTI circuit closed: calling RTI again'));
      assert.equal(decisionHeader(await svc.check(envoyCheckRequest())), 'valid');
    });

    it('opens when RTI hangs while the process is responsive', async () => {
      const svc = await startService(test.rti.url, { CHEQ_TIMEOUT_MS: '100' });
      test.service = svc;
      await assert.rejects(driveUntilCircuit(svc, 'open', 100, 1_000), /not open/);
      test.rti.behaviour = () => ({ kind: 'hang' });
      await driveUntilCircuit(svc, 'open', 100);
      const metrics = await svc.metrics();
      assert.ok(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_timeout' }) >= 20);
    });

    it('lets rti_circuit_probes calls through when half-open and closes after they all succeed', async () => {
      test.rti.behaviour = () => ({ kind: 'raw', status: 503, body: 'busy' });
      const svc = await startService(test.rti.url, {
        CHEQ_TIMEOUT_MS: '1000',
        CHEQ_RTI_CIRCUIT_OPEN_MS: '300',
        CHEQ_RTI_CIRCUIT_PROBES: '3',
        CHEQ_RTI_CIRCUIT_MIN_CALLS: '5',
      });
      test.service = svc;
      for (let i = 0; i < 5; i++) await svc.check(envoyCheckRequest());
      assert.equal(await circuitState(svc), 'open');

      test.rti.reset();
      // The probes' answers are held until the other checks have been decided.
      let release = (): void => undefined;
      const gate = new Promise<void>(resolve => (release = resolve));
      test.rti.behaviour = () => ({ kind: 'held', gate, then: verdict({}) });
      await sleep(320);
      let answered = 0;
      const pending = Array.from({ length: 10 }, () =>
        svc.check(envoyCheckRequest()).finally(() => answered++),
      );
      // Seven answered while three probes are held, or a fourth call reached RTI: either way
      // the circuit has decided every check, and the assertions below tell which.
      const until = performance.now() + NEVER_MS;
      while (answered < 7 && test.rti.calls.length <= 3 && performance.now() < until) {
        await sleep(5);
      }
      release();
      const answers = await Promise.all(pending);
      const decisions = answers.map(decisionHeader);
      assert.equal(test.rti.calls.length, 3, 'exactly the probes reached RTI');
      assert.equal(decisions.filter(d => d === 'valid').length, 3);
      assert.equal(decisions.filter(d => d === 'fail_open').length, 7);
      assert.equal(await circuitState(svc), 'closed');
      const changes = svc.logs.filter(l => typeof l['state'] === 'string').map(l => l['state']);
      assert.deepEqual(changes, ['open', 'half_open', 'closed']);
    });
  });

  describe('overload shedding (the admission line)', () => {
    /** 5 RTI connections: 5 RTI calls at once, at most; timeout_ms 1000. */
    const SLOW_RTI_SETTINGS = { CHEQ_TIMEOUT_MS: '1000', CHEQ_RTI_CONNECTIONS: '5' };

    /**
     * 20 concurrent checks with the given gRPC deadline; the decisions, in order, and the line
     * once RTI has 5 calls (then `release` is called).
     */
    async function burst(svc: TestService, deadlineMs: number, release = (): void => undefined) {
      const answers = Array.from({ length: 20 }, () => svc.check(envoyCheckRequest(), deadlineMs));
      await test.rti.waitForCalls(5);
      const waitingSeen = metricValue(await svc.metrics(), 'cheq_authz_admission_waiting');
      release();
      const decisions = (await Promise.all(answers)).map(decisionHeader);
      return { decisions, waitingSeen };
    }

    it('admits rti_connections RTI calls at once; the others wait in line and get verdicts', async () => {
      // The first calls are held until the line has been read; a long budget, so none is shed.
      let release = (): void => undefined;
      const gate = new Promise<void>(resolve => (release = resolve));
      test.rti.behaviour = () => ({ kind: 'held', gate, then: verdict({}) });
      const svc = await startService(test.rti.url, {
        ...SLOW_RTI_SETTINGS,
        CHEQ_TIMEOUT_MS: String(NEVER_MS),
      });
      test.service = svc;
      const { decisions, waitingSeen } = await burst(svc, 2 * NEVER_MS, release);
      assert.equal(waitingSeen, 15, 'the 15 past the limit wait in line');
      assert.deepEqual(new Set(decisions), new Set(['valid']));
      assert.equal(test.rti.calls.length, 20);
      const metrics = await svc.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_admission_waiting'), 0);
      assert.equal(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'overloaded' }), 0);
    });

    it('fails open as `overloaded`, without calling RTI, the checks that cannot start in time', async () => {
      test.rti.behaviour = () => verdict({}, 400);
      const svc = await startService(test.rti.url, {
        ...SLOW_RTI_SETTINGS,
        CHEQ_TIMEOUT_MS: '2000',
      });
      test.service = svc;
      // 2010 ms deadline: a budget of 2000 ms, so a check may wait 1000 ms; with RTI calls of
      // 400 ms, three rounds of 5 start in time (the third 200 ms early), the fourth cannot
      // (its round starts 1200 ms in at the soonest, on any machine).
      const { decisions } = await burst(svc, 2010);
      assert.deepEqual(decisions.slice(0, 15), Array(15).fill('valid'));
      assert.deepEqual(decisions.slice(15), Array(5).fill('fail_open'));
      assert.equal(test.rti.calls.length, 15, 'the shed checks never reached RTI');
      const metrics = await svc.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'overloaded' }), 5);
    });

    it('leaves calls to queue in the RTI pool when overload_shedding is off', async () => {
      test.rti.behaviour = () => verdict({}, 200);
      const svc = await startService(test.rti.url, {
        ...SLOW_RTI_SETTINGS,
        CHEQ_OVERLOAD_SHEDDING: 'false',
        // The fail-opens must reach the client before its deadline on a busy machine too.
        CHEQ_DEADLINE_MARGIN_MS: '150',
      });
      test.service = svc;
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => svc.check(envoyCheckRequest(), 700)),
      );
      // Nothing waits for its turn: calls queued in the pool past the deadline time out.
      assert.ok(answers.some(r => decisionHeader(r) === 'fail_open'));
      const metrics = await svc.metrics();
      assert.equal(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'overloaded' }), 0);
      assert.ok(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_timeout' }) > 0);
      assert.doesNotMatch(metrics, /cheq_authz_admission_waiting/, 'no line to report');
    });
  });

  describe('checks in flight per connection (grpc_max_concurrent_streams)', () => {
    it('takes at most the limit from one connection; the rest wait in the client and get verdicts', async () => {
      const svc = await startService(test.rti.url, {
        CHEQ_GRPC_MAX_CONCURRENT_STREAMS: '4',
        CHEQ_TIMEOUT_MS: '2000',
      });
      test.service = svc;
      test.rti.behaviour = () => verdict({}, 300);
      // One client, one connection: ten checks at once.
      const answers = Array.from({ length: 10 }, () => svc.check(envoyCheckRequest(), 5000));
      await test.rti.waitForCalls(4);
      await sleep(150);
      assert.equal(test.rti.calls.length, 4, 'no fifth check taken while four are in flight');
      const decisions = (await Promise.all(answers)).map(decisionHeader);
      assert.deepEqual(
        decisions,
        Array.from({ length: 10 }, () => 'valid'),
      );
      assert.equal(test.rti.calls.length, 10);
    });

    it('takes 32 at once by default', async () => {
      const svc = await startService(test.rti.url, { CHEQ_TIMEOUT_MS: '2000' });
      test.service = svc;
      test.rti.behaviour = () => verdict({}, 300);
      const answers = Array.from({ length: 40 }, () => svc.check(envoyCheckRequest(), 5000));
      await test.rti.waitForCalls(32);
      await sleep(150);
      assert.equal(test.rti.calls.length, 32);
      assert.equal(
        (await Promise.all(answers)).map(decisionHeader).filter(d => d === 'valid').length,
        40,
      );
    });
  });
});
