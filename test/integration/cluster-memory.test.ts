// CHEQ_WORKERS=2 (issue #23): the workers share their verdict memories through the primary, so
// a bot one worker saw blocked is remembered by the other during an RTI outage, and a forget sent
// to the primary's admin endpoint reaches both.

import { strict as assert } from 'node:assert';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { runMain, startServerProcess } from '../helpers/server-process';
import { loopbackSettings, metricValue } from '../helpers/start-service';
import { createUpstreamAuthorizationClient, upstreamCheck } from '../helpers/upstream-protos';

const TOKEN = 'admin-token-for-tests-0123456789abcdefXYZ';
const BOT = '203.0.113.7';

interface CheckAnswer {
  readonly denied_response?: { status?: { code?: number } } | null;
  readonly ok_response?: unknown;
}

describe('cluster mode shares the verdict memory: CHEQ_WORKERS=2 (integration)', function () {
  this.timeout(40_000);

  it('a bot blocked by one worker is blocked by both during an outage; a forget reaches both', async () => {
    const rti = await FakeRti.start();
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
    const settings = {
      ...loopbackSettings(rti.url),
      CHEQ_WORKERS: '2',
      CHEQ_MODE: 'blocking',
      CHEQ_WARMUP_CHECKS: '0',
      CHEQ_ADMIN_TOKEN: TOKEN,
    };
    const proc = startServerProcess([], settings);
    try {
      const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
      const address = `127.0.0.1:${line['grpcPort'] as number}`;
      const metricsUrl = `http://127.0.0.1:${line['metricsPort'] as number}`;
      const metrics = async (): Promise<string> => (await fetch(`${metricsUrl}/metrics`)).text();
      // One connection per check: the primary hands new connections to the workers in turn.
      const check = async (): Promise<CheckAnswer> => {
        const client = createUpstreamAuthorizationClient(address);
        try {
          return (await upstreamCheck(client, envoyCheckRequest({ peer: BOT }))) as CheckAnswer;
        } finally {
          client.close();
        }
      };
      const waitForMetric = async (name: string, labels: Record<string, string>, value: number) => {
        while (metricValue(await metrics(), name, labels) < value) {
          await new Promise(resolve => setTimeout(resolve, 20));
        }
      };

      // RTI blocks the bot once, on one worker; the other learns it through the primary.
      assert.equal((await check()).denied_response?.status?.code, 403);
      const learner = await proc.waitForLine(
        l => l['action'] === 'deny' && l['reason'] === 'threat_block',
      );
      await waitForMetric('cheq_authz_verdict_memory_learned_total', { source: 'peer' }, 1);

      // RTI resets every connection: both workers block the bot from memory.
      rti.behaviour = () => ({ kind: 'reset' });
      for (let i = 0; i < 4; i++) {
        assert.equal((await check()).denied_response?.status?.code, 403, `outage check ${i}`);
      }
      const remembered = await Promise.all(
        [1, 2].map(worker =>
          proc.waitForLine(
            l =>
              l['msg'] === 'blocked from verdict memory: RTI could not be asked' &&
              l['worker'] === worker,
          ),
        ),
      );
      assert.deepEqual(
        remembered.map(l => l['memoryKey']),
        ['ip_ua', 'ip_ua'],
      );
      assert.ok([1, 2].includes(learner['worker'] as number));
      let text = await metrics();
      assert.equal(
        metricValue(text, 'cheq_authz_decisions_total', { reason: 'remembered_block' }),
        4,
      );
      assert.equal(
        metricValue(text, 'cheq_authz_verdict_memory_learned_total', { source: 'peer' }),
        1,
      );

      // A forget through the primary reaches both workers.
      const run = await runMain(['forget', '--ip', BOT], {
        ...settings,
        CHEQ_METRICS_PORT: String(line['metricsPort']),
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'forgot 1 remembered block(s) (shared: cluster)\n');
      text = await metrics();
      assert.equal(
        metricValue(text, 'cheq_authz_verdict_memory_forgotten_total', { reason: 'admin' }),
        2,
        'each worker forgot its copy',
      );
      for (let i = 0; i < 4; i++) assert.ok((await check()).ok_response, `after forget ${i}`);
      const failedOpen = await Promise.all(
        [1, 2].map(worker =>
          proc.waitForLine(l => l['msg'] === 'failed open' && l['worker'] === worker),
        ),
      );
      assert.equal(failedOpen.length, 2);
      assert.ok(!proc.stdout.includes(TOKEN) && !proc.stderr.includes(TOKEN));
      assert.equal(await proc.stop(), 0);
    } finally {
      proc.child.kill('SIGKILL');
      await rti.close();
    }
  });
});
