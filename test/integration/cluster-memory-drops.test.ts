// CHEQ_WORKERS=2 without Redis (issue #23): the changes a worker cannot hand to its siblings are
// counted, not only logged. The primary is stopped (SIGSTOP) while one worker learns more blocks
// than its IPC channel holds (MAX_UNWRITTEN_CHANGES): the rest are counted `dropped`, and once the
// primary runs again every change the workers learned is either received by the sibling or
// counted dropped.

import { strict as assert } from 'node:assert';
import { MAX_UNWRITTEN_CHANGES } from '../../src/cli/cluster-memory';
import { BROWSER_HEADERS, envoyCheckRequest } from '../helpers/envoy-check-request';
import { eventually } from '../helpers/eventually';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { startServerProcess } from '../helpers/server-process';
import { loopbackSettings, metricValue } from '../helpers/start-service';
import {
  createUpstreamAuthorizationClient,
  upstreamCheck,
  type UpstreamAuthorizationClient,
} from '../helpers/upstream-protos';

/** Two keys each (IP + User-Agent, device id): 18,000 changes, well past the channel's bound (10,000) and
 * what the pipe buffers (about 300 here). */
const BOTS = 9000;
const CONCURRENCY = 64;

interface Counts {
  readonly published: number;
  readonly received: number;
  readonly dropped: number;
  readonly invalid: number;
  readonly learned: number;
}

/** The sync family's counts and the blocks the workers learned themselves, summed by /metrics. */
async function counts(metricsUrl: string): Promise<Counts> {
  const text = await (await fetch(metricsUrl)).text();
  const sync = (direction: string) =>
    metricValue(text, 'cheq_authz_verdict_memory_sync_messages_total', { direction });
  return {
    published: sync('published'),
    received: sync('received'),
    dropped: sync('dropped'),
    invalid: sync('invalid'),
    learned: metricValue(text, 'cheq_authz_verdict_memory_learned_total', { source: 'local' }),
  };
}

describe('cluster mode counts the memory changes it cannot share: CHEQ_WORKERS=2 (integration)', function () {
  this.timeout(90_000);

  it('a worker whose primary cannot keep up counts the changes past the bound dropped; every change is received or counted', async () => {
    const rti = await FakeRti.start();
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
    const proc = startServerProcess([], {
      ...loopbackSettings(rti.url),
      CHEQ_WORKERS: '2',
      CHEQ_MODE: 'blocking',
      CHEQ_WARMUP_CHECKS: '0',
      CHEQ_VERDICT_MEMORY_MAX_ENTRIES: String(4 * BOTS),
    });
    let client: UpstreamAuthorizationClient | undefined;
    try {
      const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
      const metricsUrl = `http://127.0.0.1:${line['metricsPort'] as number}/metrics`;
      assert.deepEqual(await counts(metricsUrl), {
        published: 0,
        received: 0,
        dropped: 0,
        invalid: 0,
        learned: 0,
      });

      // One connection: the primary hands it to one worker, which then serves it on its own.
      const connection = createUpstreamAuthorizationClient(
        `127.0.0.1:${line['grpcPort'] as number}`,
      );
      client = connection;
      const check = (n: number) =>
        upstreamCheck(
          connection,
          envoyCheckRequest({
            peer: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
            headers: { ...BROWSER_HEADERS, cookie: `_cq_duid=bot-${n}` },
          }),
          30_000,
        );
      await check(0);

      proc.child.kill('SIGSTOP');
      let next = 1;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < BOTS) await check(next++);
        }),
      );
      proc.child.kill('SIGCONT');

      // Every change learned is received by the sibling or counted dropped (at the worker that
      // could not send it, or by the primary on the way to the sibling, told to the sibling).
      const settled = await eventually(
        'received + dropped = learned',
        async () => {
          const now = await counts(metricsUrl);
          const { learned, received, dropped } = now;
          return learned === 2 * BOTS && received + dropped === learned && now;
        },
        30_000,
      );
      assert.ok(settled.dropped > 0, JSON.stringify(settled));
      assert.ok(settled.published >= MAX_UNWRITTEN_CHANGES, JSON.stringify(settled));
      assert.equal(settled.invalid, 0);
      const warned = proc.stdout
        .split('\n')
        .filter(l =>
          l.includes('verdict memory: the primary cannot keep up; dropping changes to share'),
        );
      assert.equal(warned.length, 1, 'said once per run of drops');
      assert.equal(await proc.stop(), 0);
    } finally {
      client?.close();
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill('SIGCONT');
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
      await rti.close();
    }
  });
});
