// The circuit breaker and the in-flight bound over real sockets: a failing RTI stops being
// called and checks fail open at once; a hanging RTI cannot pile up calls.

import { strict as assert } from 'node:assert';
import { decisionHeader } from '../helpers/check-response';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { verdict } from '../helpers/fake-rti-server';
import { rtiPerTest } from '../helpers/rti-per-test';
import { metricValue, startService } from '../helpers/start-service';

describe('RTI guards (integration)', () => {
  const test = rtiPerTest();

  it('opens the circuit when RTI keeps failing, fails open at once, and closes after a good probe', async () => {
    test.rti.behaviour = () => ({ kind: 'raw', status: 503, body: 'overloaded' });
    const svc = await startService(test.rti.url, {
      CHEQ_RTI_CIRCUIT_MIN_CALLS: '5',
      CHEQ_RTI_CIRCUIT_FAILURE_RATIO: '0.6',
      // Far longer than ten checks answered locally take, so none of them is a probe.
      CHEQ_RTI_CIRCUIT_OPEN_MS: '1000',
      CHEQ_RTI_CIRCUIT_PROBES: '1',
    });
    test.service = svc;
    for (let i = 0; i < 5; i++) await svc.check(envoyCheckRequest());
    assert.equal(test.rti.calls.length, 5);
    let metrics = await svc.metrics();
    assert.equal(metricValue(metrics, 'cheq_authz_rti_circuit_state', { state: 'open' }), 1);
    assert.ok(svc.logs.some(l => l['msg'] === 'RTI circuit open' && l['previous'] === 'closed'));

    for (let i = 0; i < 10; i++) {
      const response = await svc.check(envoyCheckRequest());
      assert.equal(response.status?.code ?? 0, 0);
    }
    assert.equal(test.rti.calls.length, 5, 'RTI not called while open');
    metrics = await svc.metrics();
    assert.equal(
      metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_circuit_open' }),
      10,
    );
    assert.equal(
      metricValue(metrics, 'cheq_authz_rti_requests_total', { result: 'rti_http_status' }),
      5,
    );

    test.rti.behaviour = () => verdict({});
    await new Promise(resolve => setTimeout(resolve, 1020));
    const probe = await svc.check(envoyCheckRequest());
    assert.equal(decisionHeader(probe), 'valid', 'the probe reached RTI');
    metrics = await svc.metrics();
    assert.equal(metricValue(metrics, 'cheq_authz_rti_circuit_state', { state: 'closed' }), 1);
    assert.ok(svc.logs.some(l => l['msg'] === 'RTI circuit closed: calling RTI again'));
  });

  it('fails open at once past rti_max_in_flight while RTI hangs', async () => {
    test.rti.behaviour = () => ({ kind: 'hang' });
    const svc = await startService(test.rti.url, {
      CHEQ_RTI_MAX_IN_FLIGHT: '3',
      CHEQ_TIMEOUT_MS: '400',
      CHEQ_RTI_CIRCUIT_BREAKER: 'false',
      // The RTI client's own bound, not admission's line (whose limit never exceeds it).
      CHEQ_OVERLOAD_SHEDDING: 'false',
    });
    test.service = svc;
    let hangingAnswered = 0;
    const hanging = Array.from({ length: 3 }, () =>
      svc.check(envoyCheckRequest()).finally(() => hangingAnswered++),
    );
    await test.rti.waitForCalls(3);
    assert.equal(metricValue(await svc.metrics(), 'cheq_authz_rti_in_flight'), 3);
    const fourth = await svc.check(envoyCheckRequest());
    assert.equal(decisionHeader(fourth), 'fail_open');
    assert.equal(hangingAnswered, 0, 'the fourth check did not wait for a hanging one');
    assert.equal(test.rti.calls.length, 3);
    await Promise.all(hanging);
    const metrics = await svc.metrics();
    assert.equal(
      metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_overloaded' }),
      1,
    );
    assert.equal(metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_timeout' }), 3);
    assert.equal(metricValue(metrics, 'cheq_authz_rti_in_flight'), 0);
    await test.rti.waitForAborts();
    assert.ok(
      test.rti.calls.every(call => call.aborted),
      'timed-out calls aborted',
    );
  });
});
