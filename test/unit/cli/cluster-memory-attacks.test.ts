// The attacker's read of issue #23's verdict memory, cluster part (see also
// test/integration/verdict-memory-attacks.test.ts).
//
// Finding M4 (memory growth past its bound, open): in cluster mode without Redis, each change a
// worker makes (every new block key, every remembered visitor RTI lets go) is one IPC message to
// the primary, which sends it on to every other worker, with no bound on what waits to be sent.
// Blocked requests from many addresses (the 32-keys-per-IP cap holds per address only) make one or
// two changes each, so W workers blocking R requests a second ask the single-threaded primary to
// send up to 2·R·W·(W-1) messages a second, and what it cannot write queues in its memory: Node's
// send() returns false and keeps the message (200,000 such changes sent at once grew a sender's RSS
// by 223 MB, Node 20). The Redis path bounds its buffer (10,000 changes, `dropped` counted); this
// one should too, e.g. per worker at most a buffer's worth of sends whose callback has not come
// back, the rest dropped and counted, and the changes of one tick batched in one message.

import { strict as assert } from 'node:assert';
import type { Worker } from 'node:cluster';
import { ClusterMemory } from '../../../src/cli/cluster-memory';
import { ipUaKey } from '../../../src/memory/visitor-keys';

/** A worker whose IPC channel is full: it takes every message and never reports one written. */
class StuckWorker {
  readonly sent: unknown[] = [];
  constructor(readonly id: number) {}
  isConnected(): boolean {
    return true;
  }
  send(message: unknown): boolean {
    this.sent.push(message);
    return false; // Node's answer when the channel's backlog is past its threshold
  }
}

/** As many changes as a bounded sender may hold for one worker whose channel is stuck. */
const BOUND = 10_000;

describe('verdict memory: attacks (cluster IPC)', () => {
  it('M4: the primary does not queue without bound for a worker that cannot keep up', () => {
    const workers = [new StuckWorker(1), new StuckWorker(2)];
    const all = (): Worker[] => workers as unknown as Worker[];
    const primary = new ClusterMemory(all, all);
    const from = workers[0] as unknown as Worker;
    for (let i = 0; i < 5 * BOUND; i++) {
      const key = ipUaKey({
        site: 'shop',
        clientIp: `198.51.${(i >> 8) & 255}.${i & 255}`,
        userAgent: `rotating/${i}`,
        duid: undefined,
      });
      const change = { op: 'block', key, expiresAtMs: Date.now() + 300_000 };
      primary.onMessage(from, { type: 'cheq-rti-authz:memory-change', change });
    }
    assert.ok(
      workers[1]!.sent.length <= BOUND,
      `${workers[1]!.sent.length} messages queued for a worker whose channel is full`,
    );
  });
});
