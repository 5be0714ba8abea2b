// Cluster memory sharing. The primary's side, with stand-in workers: what a worker sends is
// validated before it is relayed, what is dropped or refused is told to the worker concerned, a
// forget waits for every serving worker and fails when one does not answer, and the answer is the
// most any one worker forgot. A worker's side, with the primary's messages emitted on `process`:
// what it counts in the sync messages family.

import { strict as assert } from 'node:assert';
import type { Worker } from 'node:cluster';
import { install as installFakeTimers, type Clock } from '@sinonjs/fake-timers';
import { Registry } from 'prom-client';
import {
  ClusterMemory,
  MAX_UNWRITTEN_CHANGES,
  parseMemoryChange,
  shareWorkerMemory,
} from '../../../src/cli/cluster-memory';
import type { ForgetRequest } from '../../../src/memory/forget-request';
import { VerdictMemory, type MemoryChange } from '../../../src/memory/verdict-memory';
import { duidKey, ipTag } from '../../../src/memory/visitor-keys';
import type { Logger } from '../../../src/observability/logger';

const KEY = duidKey({ site: 'shop', clientIp: undefined, userAgent: undefined, duid: 'd-1' })!;
const TAG = ipTag('shop', '203.0.113.7')!;

class StandInWorker {
  readonly sent: Record<string, unknown>[] = [];
  /** The send callbacks not yet called: the messages not yet written to the channel. */
  readonly unwritten: (() => void)[] = [];
  connected = true;
  constructor(readonly id: number) {}
  isConnected(): boolean {
    return this.connected;
  }
  send(
    message: Record<string, unknown>,
    _h?: unknown,
    _o?: unknown,
    written?: () => void,
  ): boolean {
    this.sent.push(message);
    if (written) this.unwritten.push(written);
    return true;
  }
}

describe('cluster memory sharing', () => {
  describe('parseMemoryChange', () => {
    const valid: readonly unknown[] = [
      { op: 'block', key: KEY, expiresAtMs: 1_700_000_000_000 },
      { op: 'block', key: KEY, expiresAtMs: 1_700_000_000_000, tag: TAG },
      { op: 'forget', key: KEY },
      { op: 'forget_ip', tag: TAG },
      { op: 'forget_all' },
    ];
    for (const change of valid) {
      it(`keeps ${JSON.stringify(change)}`, () =>
        assert.deepEqual(parseMemoryChange(change), change));
    }

    it('keeps only the fields of a change', () => {
      assert.deepEqual(parseMemoryChange({ op: 'forget', key: KEY, extra: 'x'.repeat(1e5) }), {
        op: 'forget',
        key: KEY,
      });
    });

    const invalid: readonly [string, unknown][] = [
      ['not an object', 'forget_all'],
      ['null', null],
      ['an unknown op', { op: 'remember', key: KEY }],
      ['a key that is not a digest', { op: 'forget', key: 'i:203.0.113.7' }],
      ['a tag as a key', { op: 'forget', key: TAG }],
      ['a key as a tag', { op: 'forget_ip', tag: KEY }],
      ['a block without expiry', { op: 'block', key: KEY }],
      ['a block with an expiry as text', { op: 'block', key: KEY, expiresAtMs: '1' }],
      ['a block with an infinite expiry', { op: 'block', key: KEY, expiresAtMs: Infinity }],
      ['a block with a bad tag', { op: 'block', key: KEY, expiresAtMs: 1, tag: 'p:x' }],
    ];
    for (const [name, change] of invalid) {
      it(`drops ${name}`, () => assert.equal(parseMemoryChange(change), undefined));
    }
  });

  describe('ClusterMemory', () => {
    let clock: Clock;
    let workers: StandInWorker[];
    let memory: ClusterMemory;
    let warned: unknown[][];
    const forgetIp: ForgetRequest = { target: { kind: 'ip', ip: '203.0.113.7' } };

    beforeEach(() => {
      clock = installFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      workers = [new StandInWorker(1), new StandInWorker(2), new StandInWorker(3)];
      const all = (): Worker[] => workers as unknown as Worker[];
      warned = [];
      const log = { warn: (...args: unknown[]) => warned.push(args) } as unknown as Logger;
      memory = new ClusterMemory(all, () => all().filter(w => w.id !== 3), log);
    });
    afterEach(() => clock.uninstall());

    const from = (id: number): Worker => workers[id - 1] as unknown as Worker;

    it('relays a valid change to every other connected worker, and drops an invalid one', () => {
      workers[2]!.connected = false;
      const change = { op: 'forget', key: KEY };
      assert.equal(
        memory.onMessage(from(1), { type: 'cheq-rti-authz:memory-change', change }),
        true,
      );
      assert.deepEqual(workers[0]!.sent, []);
      assert.deepEqual(workers[1]!.sent, [{ type: 'cheq-rti-authz:memory-change', change }]);
      assert.deepEqual(workers[2]!.sent, []);
      const bad = { type: 'cheq-rti-authz:memory-change', change: { op: 'forget', key: 'x' } };
      assert.equal(memory.onMessage(from(1), bad), true);
      assert.equal(workers[1]!.sent.length, 1);
    });

    it('holds at most MAX_UNWRITTEN_CHANGES unwritten changes per worker, drops the rest, says so once', () => {
      workers[2]!.connected = false;
      const change = { op: 'forget', key: KEY };
      const relay = (): boolean =>
        memory.onMessage(from(1), { type: 'cheq-rti-authz:memory-change', change });
      const relayed = () =>
        workers[1]!.sent.filter(m => m['type'] === 'cheq-rti-authz:memory-change').length;
      for (let i = 0; i < MAX_UNWRITTEN_CHANGES + 5; i++) relay();
      assert.equal(relayed(), MAX_UNWRITTEN_CHANGES);
      assert.deepEqual(warned, [
        [{ worker: 2 }, 'verdict memory: a worker cannot keep up; dropping changes relayed to it'],
      ]);
      // Written: the channel takes changes again.
      workers[1]!.unwritten.splice(0, 2).forEach(written => written());
      relay();
      relay();
      relay();
      assert.equal(relayed(), MAX_UNWRITTEN_CHANGES + 2);
      assert.equal(warned.length, 2, 'a new run of drops is said again');
    });

    it('tells a worker how many changes were dropped on the way to it, once its channel has room', () => {
      workers[2]!.connected = false;
      const change = { op: 'forget', key: KEY };
      for (let i = 0; i < MAX_UNWRITTEN_CHANGES + 5; i++) {
        memory.onMessage(from(1), { type: 'cheq-rti-authz:memory-change', change });
      }
      const uncounted = () =>
        workers[1]!.sent.filter(m => m['type'] === 'cheq-rti-authz:memory-uncounted');
      assert.deepEqual(uncounted(), [], 'not while the channel is full');
      workers[1]!.unwritten.shift()!();
      assert.deepEqual(uncounted(), [
        { type: 'cheq-rti-authz:memory-uncounted', dropped: 5, invalid: 0 },
      ]);
      workers[1]!.unwritten.shift()!();
      assert.equal(uncounted().length, 1, 'told once');
    });

    it('refuses an invalid change: said once, told to the worker that sent it to count', () => {
      const bad = { type: 'cheq-rti-authz:memory-change', change: { op: 'forget', key: 'x' } };
      memory.onMessage(from(1), bad);
      memory.onMessage(from(1), bad);
      assert.deepEqual(workers[0]!.sent, [
        { type: 'cheq-rti-authz:memory-uncounted', dropped: 0, invalid: 1 },
        { type: 'cheq-rti-authz:memory-uncounted', dropped: 0, invalid: 1 },
      ]);
      assert.deepEqual(workers[1]!.sent, [], 'nothing relayed');
      assert.deepEqual(warned, [
        [{ worker: 1 }, 'verdict memory: a worker sent an invalid change'],
      ]);
    });

    it('does not wait for a worker that exits during a forget', async () => {
      const answer = memory.forget(forgetIp);
      memory.onMessage(from(1), {
        type: 'cheq-rti-authz:memory-forgotten',
        id: 1,
        outcome: { forgotten: 2 },
      });
      memory.onExit(from(2));
      assert.deepEqual(await answer, { forgotten: 2 });
    });

    it('leaves other messages to their handlers', () => {
      assert.equal(memory.onMessage(from(1), { type: 'cheq-rti-authz:listening' }), false);
      assert.equal(memory.onMessage(from(1), 'text'), false);
    });

    it('sends a forget to every serving worker and answers the most one forgot', async () => {
      const answer = memory.forget(forgetIp);
      assert.deepEqual(workers[0]!.sent, [
        { type: 'cheq-rti-authz:memory-forget', id: 1, body: { ip: '203.0.113.7' } },
      ]);
      assert.equal(workers[1]!.sent.length, 1);
      assert.equal(workers[2]!.sent.length, 0, 'not serving: not waited for');
      const reply = (id: number, outcome: unknown): boolean =>
        memory.onMessage(from(id), { type: 'cheq-rti-authz:memory-forgotten', id: 1, outcome });
      reply(1, { forgotten: 3 });
      reply(1, { forgotten: 9 }); // a second answer of one worker is ignored
      reply(3, { forgotten: 9 }); // as is one from a worker not asked
      reply(2, { forgotten: 2 });
      assert.deepEqual(await answer, { forgotten: 3 });
    });

    it('refuses when a worker refuses (a site it does not serve)', async () => {
      const answer = memory.forget({ target: { kind: 'duid', duid: 'd-1' }, site: 'blog' });
      for (const id of [1, 2]) {
        memory.onMessage(from(id), {
          type: 'cheq-rti-authz:memory-forgotten',
          id: 1,
          outcome: id === 1 ? { forgotten: 0 } : { refused: 'site names none of the served sites' },
        });
      }
      assert.deepEqual(await answer, { refused: 'site names none of the served sites' });
    });

    it('fails when a worker does not answer within 5 s', async () => {
      const answer = memory.forget(forgetIp);
      memory.onMessage(from(1), {
        type: 'cheq-rti-authz:memory-forgotten',
        id: 1,
        outcome: { forgotten: 1 },
      });
      memory.onMessage(from(2), {
        type: 'cheq-rti-authz:memory-forgotten',
        id: 1,
        outcome: { forgotten: 'many' },
      });
      clock.tick(4999);
      let settled = false;
      void answer.then(
        () => (settled = true),
        () => (settled = true),
      );
      await Promise.resolve();
      assert.equal(settled, false);
      clock.tick(1);
      await assert.rejects(answer, /^Error: 1 of 2 workers did not answer the forget$/);
    });

    it('fails at once when no worker serves', async () => {
      workers.forEach(w => (w.connected = false));
      await assert.rejects(memory.forget(forgetIp), /no worker is serving/);
    });
  });

  describe('shareWorkerMemory (a worker, relaying)', () => {
    let added: NodeJS.MessageListener[];
    let registry: Registry;
    let memory: VerdictMemory;
    let applied: MemoryChange[];
    let warns: string[];

    beforeEach(() => {
      const before = new Set(process.listeners('message'));
      registry = new Registry();
      memory = new VerdictMemory({ maxEntries: 1000 });
      applied = [];
      warns = [];
      const log = { warn: (msg: string) => warns.push(msg) } as unknown as Logger;
      shareWorkerMemory(
        {
          memory,
          registry,
          forget: () => ({ forgotten: 0 }),
          applyPeerChange: change => applied.push(change),
        },
        { relay: true, log },
      );
      added = process.listeners('message').filter(l => !before.has(l));
    });
    afterEach(() => added.forEach(listener => process.off('message', listener)));

    const fromPrimary = (message: unknown): void => {
      process.emit('message', message, undefined);
    };
    const count = async (direction: string): Promise<number | undefined> => {
      const metric = registry.getSingleMetric('cheq_authz_verdict_memory_sync_messages_total');
      const { values } = (await metric?.get()) ?? { values: [] };
      return values.find(v => v.labels['direction'] === direction)?.value;
    };

    it("applies and counts siblings' changes; counts and says once an invalid one", async () => {
      const change = { op: 'forget', key: KEY };
      fromPrimary({ type: 'cheq-rti-authz:memory-change', change });
      fromPrimary({ type: 'cheq-rti-authz:memory-change', change: { op: 'forget', key: 'x' } });
      fromPrimary({ type: 'cheq-rti-authz:memory-change', change: null });
      assert.deepEqual(applied, [change]);
      assert.equal(await count('received'), 1);
      assert.equal(await count('invalid'), 2);
      assert.deepEqual(warns, ['verdict memory: dropped an invalid IPC change']);
    });

    it('counts what the primary dropped on the way here or refused from here; ignores bad counts', async () => {
      fromPrimary({ type: 'cheq-rti-authz:memory-uncounted', dropped: 5, invalid: 2 });
      for (const bad of [-1, 1.5, '7', 2 ** 53, null]) {
        fromPrimary({ type: 'cheq-rti-authz:memory-uncounted', dropped: bad, invalid: bad });
      }
      assert.equal(await count('dropped'), 5);
      assert.equal(await count('invalid'), 2);
    });

    it('counts its own changes sent to the primary as published', async () => {
      memory.remember(
        { site: 'shop', clientIp: '203.0.113.7', userAgent: 'bot/1', duid: 'd-1' },
        60_000,
      );
      assert.equal(await count('published'), 2);
      assert.equal(await count('dropped'), 0);
    });
  });
});
