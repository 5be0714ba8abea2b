// CHEQ_WORKERS > 1: worker processes share the gRPC and HTTP ports, the primary serves their summed
// metrics and health, replaces a worker that dies, and stops them all gracefully.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { startServerProcess } from '../helpers/server-process';
import { loopbackSettings, metricValue } from '../helpers/start-service';
import { createUpstreamAuthorizationClient, upstreamCheck } from '../helpers/upstream-protos';

function childPids(pid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map(line => Number(line.trim()))
    .filter(n => n > 0);
}

describe('cluster mode: CHEQ_WORKERS=2 (integration)', function () {
  this.timeout(30_000);

  it('spreads checks over the workers, sums their metrics, replaces a dead worker, stops cleanly', async () => {
    const rti = await FakeRti.start();
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
    const proc = startServerProcess([], {
      ...loopbackSettings(rti.url),
      CHEQ_WORKERS: '2',
      CHEQ_MODE: 'blocking',
      CHEQ_LOG_LEVEL: 'debug',
    });
    try {
      const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
      assert.equal(line['workers'], 2);
      // Workers write their log lines asynchronously: the primary's may come first. Compare times.
      // On a busy machine the warm-up may end at its time budget instead: ended all the same.
      const warmUpEnded = new Set([
        'warm-up finished',
        'warm-up ran out of time: ready anyway, partly warm',
      ]);
      const warmed = await Promise.all(
        [1, 2].map(worker =>
          proc.waitForLine(l => warmUpEnded.has(String(l['msg'])) && l['worker'] === worker),
        ),
      );
      for (const warm of warmed) {
        assert.ok(
          Date.parse(String(warm['time'])) <= Date.parse(String(line['time'])),
          'every worker warmed up before the primary turned ready',
        );
      }
      const address = `127.0.0.1:${line['grpcPort'] as number}`;
      const metricsUrl = `http://127.0.0.1:${line['metricsPort'] as number}`;
      // One connection per client: the primary hands new connections to workers in turn.
      for (let i = 0; i < 10; i++) {
        const client = createUpstreamAuthorizationClient(address);
        const response = (await upstreamCheck(client, envoyCheckRequest())) as {
          denied_response?: { status?: { code?: number } };
        };
        assert.equal(response.denied_response?.status?.code, 403);
        client.close();
      }
      // Each worker logs its own denies, written after its answer: waited for, not read at once.
      const denies = await Promise.all(
        [1, 2].map(worker =>
          proc.waitForLine(l => l['action'] === 'deny' && l['worker'] === worker),
        ),
      );
      assert.deepEqual(
        denies.map(l => l['worker']),
        [1, 2],
      );
      const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
      assert.equal(
        metricValue(metrics, 'cheq_authz_decisions_total', {
          transport: 'grpc',
          action: 'deny',
          reason: 'threat_block',
        }),
        10,
      );
      // The latency histograms (ours, not prom-client's) add up across workers too.
      assert.equal(
        metricValue(metrics, 'cheq_authz_check_duration_seconds_count', { transport: 'grpc' }),
        10,
      );
      assert.equal(
        metricValue(metrics, 'cheq_authz_rti_request_duration_seconds_bucket', {
          result: 'ok',
          le: '+Inf',
        }),
        10,
      );
      assert.equal(metricValue(metrics, 'cheq_authz_build_info'), 1, 'not summed');
      assert.equal(metricValue(metrics, 'cheq_authz_rti_circuit_state', { state: 'closed' }), 2);

      const [victim] = childPids(proc.child.pid!);
      process.kill(victim!, 'SIGKILL');
      await proc.waitForLine(l => l['msg'] === 'worker died; starting a new one');
      const until = Date.now() + 10_000;
      while ((await fetch(`${metricsUrl}/readyz`)).status !== 200 && Date.now() < until) {
        await new Promise(resolve => setTimeout(resolve, 100));
      }
      assert.equal((await fetch(`${metricsUrl}/readyz`)).status, 200);
      assert.equal(childPids(proc.child.pid!).length, 2);
      const client = createUpstreamAuthorizationClient(address);
      await upstreamCheck(client, envoyCheckRequest());
      client.close();

      assert.equal(await proc.stop(), 0);
    } finally {
      proc.child.kill('SIGKILL');
      await rti.close();
    }
  });
});
