// Warm-up before ready: health and /readyz say so while the check path is warmed against the
// in-process emulator, the configured RTI gets connections opened ahead but no request, and a
// replica that cannot reach RTI still becomes ready, saying so.

import { strict as assert } from 'node:assert';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { healthStatus } from '../helpers/grpc-health';
import { closedPortUrl, rtiPerTest } from '../helpers/rti-per-test';
import { startServerProcess } from '../helpers/server-process';
import {
  loopbackSettings,
  metricValue,
  startService,
  type TestService,
} from '../helpers/start-service';

function messages(service: TestService): string[] {
  return service.logs.map(line => String(line['msg']));
}

describe('warm-up before ready (integration)', function () {
  this.timeout(20_000);
  const test = rtiPerTest();

  it('reports NOT_SERVING and /readyz 503 while warming up, serves checks meanwhile, then turns ready', async () => {
    const service = await startService(
      test.rti.url,
      { CHEQ_WARMUP_CHECKS: '600', CHEQ_RTI_PRECONNECT: '2' },
      { awaitReady: false },
    );
    test.service = service;
    assert.equal((await fetch(`${service.metricsUrl}/healthz`)).status, 200);
    const readyz = await fetch(`${service.metricsUrl}/readyz`);
    assert.equal(readyz.status, 503);
    assert.deepEqual(await readyz.json(), { status: 'warming up' });
    assert.equal(await healthStatus(service.grpcAddress), 'NOT_SERVING');
    const during = await service.check(envoyCheckRequest());
    assert.equal(during.status?.code ?? 0, 0);
    assert.equal(test.rti.calls.length, 1, 'a real check during warm-up asks the configured RTI');
    assert.ok(!messages(service).includes('warm-up finished'), 'still warming up');

    await service.app.ready;
    assert.equal((await fetch(`${service.metricsUrl}/readyz`)).status, 200);
    assert.equal(await healthStatus(service.grpcAddress), 'SERVING');
    const order = messages(service).filter(msg =>
      [
        'warming up before reporting ready',
        'warm-up finished',
        'cheq-rti-authz listening',
      ].includes(msg),
    );
    assert.deepEqual(order, [
      'warming up before reporting ready',
      'warm-up finished',
      'cheq-rti-authz listening',
    ]);
    const finished = service.logs.find(line => line['msg'] === 'warm-up finished');
    assert.equal(finished?.['checks'], 600);
    assert.equal(finished?.['errors'], 0);
    assert.equal(typeof finished?.['durationMs'], 'number');
  });

  it('sends nothing to the configured RTI, opens connections to it that the first checks use', async () => {
    const service = await startService(test.rti.url, {
      CHEQ_WARMUP_CHECKS: '300',
      CHEQ_RTI_PRECONNECT: '2',
    });
    test.service = service;
    assert.equal(test.rti.calls.length, 0, 'no warm-up check reached the configured RTI');
    assert.equal(test.rti.connections, 2, 'connections opened ahead');
    const metrics = await service.metrics();
    assert.equal(metricValue(metrics, 'cheq_authz_rti_reachable_at_start'), 1);
    assert.ok(metricValue(metrics, 'cheq_authz_warmup_duration_seconds') > 0);
    assert.ok(
      service.logs.some(l => l['msg'] === 'connections to RTI opened ahead of traffic'),
      'logged',
    );

    await Promise.all([service.check(envoyCheckRequest()), service.check(envoyCheckRequest())]);
    assert.equal(test.rti.calls.length, 2);
    assert.equal(test.rti.connections, 2, 'the checks took the connections opened ahead');
  });

  it('keeps warm-up checks out of /metrics', async () => {
    const service = await startService(test.rti.url, { CHEQ_WARMUP_CHECKS: '300' });
    test.service = service;
    const metrics = await service.metrics();
    for (const transport of ['grpc', 'nginx']) {
      assert.equal(
        metricValue(metrics, 'cheq_authz_check_duration_seconds_count', { transport }),
        0,
        transport,
      );
    }
    const counted = metrics
      .split('\n')
      .filter(line => /^cheq_authz_(decisions|rti_requests|threat_types)_total\{/.test(line))
      .filter(line => Number(line.slice(line.lastIndexOf(' ') + 1)) !== 0);
    assert.deepEqual(counted, []);
  });

  it('becomes ready when RTI cannot be reached, with a warning and cheq_authz_rti_reachable_at_start 0', async () => {
    const service = await startService(await closedPortUrl(), {
      CHEQ_WARMUP_CHECKS: '100',
      CHEQ_RTI_PRECONNECT: '2',
    });
    test.service = service;
    assert.equal((await fetch(`${service.metricsUrl}/readyz`)).status, 200);
    assert.equal(await healthStatus(service.grpcAddress), 'SERVING');
    const warning = service.logs.find(
      l => l['msg'] === 'RTI not reachable at start: checks fail open until it is',
    );
    assert.equal(warning?.['level'], 'warn');
    assert.match(JSON.stringify(warning?.['err']), /ECONNREFUSED/);
    assert.equal(metricValue(await service.metrics(), 'cheq_authz_rti_reachable_at_start'), 0);
    const finished = service.logs.find(line => line['msg'] === 'warm-up finished');
    assert.equal(finished?.['checks'], 100, 'warm-up does not depend on the configured RTI');
  });

  it('is ready at once with warmup_checks 0 and rti_preconnect 0', async () => {
    const service = await startService(
      test.rti.url,
      { CHEQ_WARMUP_CHECKS: '0', CHEQ_RTI_PRECONNECT: '0' },
      { awaitReady: false },
    );
    test.service = service;
    await service.app.ready;
    assert.equal((await fetch(`${service.metricsUrl}/readyz`)).status, 200);
    assert.ok(!messages(service).includes('warm-up finished'));
    const metrics = await service.metrics();
    assert.equal(metricValue(metrics, 'cheq_authz_warmup_duration_seconds'), 0);
    assert.ok(Number.isNaN(metricValue(metrics, 'cheq_authz_rti_reachable_at_start')), 'unknown');
    assert.equal(test.rti.connections, 0);
  });

  it('runs by default in the process: warm-up logged before listening, nothing sent to RTI', async () => {
    const proc = startServerProcess([], loopbackSettings(test.rti.url));
    try {
      const warming = await proc.waitForLine(l => l['msg'] === 'warming up before reporting ready');
      const metricsUrl = `http://127.0.0.1:${warming['metricsPort'] as number}`;
      const readyz = await fetch(`${metricsUrl}/readyz`);
      await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
      assert.equal((await fetch(`${metricsUrl}/readyz`)).status, 200);
      const lines = proc.stdout
        .split('\n')
        .filter(line => line.startsWith('{'))
        .map(line => JSON.parse(line) as Record<string, unknown>);
      const at = (msg: string): number => lines.findIndex(l => l['msg'] === msg);
      assert.ok(at('warm-up finished') > at('warming up before reporting ready'));
      assert.ok(at('cheq-rti-authz listening') > at('warm-up finished'));
      assert.ok(Number(warming['warmupChecks']) > 0, 'on by default');
      assert.equal(lines[at('warm-up finished')]?.['checks'], warming['warmupChecks']);
      assert.equal(readyz.status, 503, 'asked while warming up');
      assert.equal(test.rti.calls.length, 0);
      assert.ok(test.rti.connections > 0, 'connections opened ahead by default');
    } finally {
      await proc.stop();
    }
  });
});
