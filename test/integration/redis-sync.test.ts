// The verdict memory shared through a real redis-server: replicas in one process (a VerdictMemory
// and its sync each) over loopback, and Redis refusing AUTH, refusing writes (a replica; OOM
// midway through a batch), dropping its clients (the reconnect backoff), killed and restarted,
// stopped (SIGSTOP), fed garbage, and over TLS.

import { strict as assert } from 'node:assert';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { install as installFakeTimers } from '@sinonjs/fake-timers';
import { Registry } from 'prom-client';
import { createClient } from 'redis';
import type { RedisConfig } from '../../src/config/redis-config';
import { startRedisSync, type RedisSync } from '../../src/memory/redis-sync';
import { VerdictMemory } from '../../src/memory/verdict-memory';
import { ipTag } from '../../src/memory/visitor-keys';
import { createLogger } from '../../src/observability/logger';
import { eventually } from '../helpers/eventually';
import { freePort } from '../helpers/nginx';
import { RedisServer, type RedisServerOptions } from '../helpers/redis-server';
import { TestPki } from '../helpers/test-certs';

const STREAM = 'test:verdict-memory';
const TTL_MS = 300_000;
const PASSWORD = 'redis-Pa55word-7f3e';

const bot = (n: number) => ({
  site: 'default',
  clientIp: `203.0.113.${n}`,
  userAgent: `bot/${n}`,
  duid: `duid-${n}`,
});

interface Replica {
  readonly memory: VerdictMemory;
  readonly sync: RedisSync;
  readonly registry: Registry;
  readonly logs: Record<string, unknown>[];
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
}

function settingsFor(port: number, more: Partial<RedisConfig> = {}): RedisConfig {
  return {
    host: '127.0.0.1',
    port,
    database: 0,
    username: undefined,
    password: undefined,
    tls: undefined,
    stream: STREAM,
    ...more,
  };
}

/** `onLog` sees each line as it is written, inside the sync's own call. */
function startReplica(
  settings: RedisConfig,
  maxEntries = 1000,
  onLog: (line: Record<string, unknown>) => void = () => undefined,
): Replica {
  const memory = new VerdictMemory({ maxEntries });
  const registry = new Registry();
  const logs: Record<string, unknown>[] = [];
  const log = createLogger('debug', {
    write: (text: string) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      logs.push(line);
      onLog(line);
    },
  });
  const sync = startRedisSync({ memory, settings, maxTtlMs: () => TTL_MS, log, registry });
  return {
    memory,
    sync,
    registry,
    logs,
    async metric(name, labels = {}) {
      const metric = registry.getSingleMetric(name);
      if (!metric) return undefined;
      const { values } = await metric.get();
      const found = values.find(v =>
        Object.entries(labels).every(([k, value]) => v.labels[k] === value),
      );
      return found?.value;
    },
  };
}

const isUp = (replica: Replica) => async () =>
  (await replica.metric('cheq_authz_verdict_memory_sync_up', { backend: 'redis' })) === 1;

const messages = (replica: Replica, direction: string) =>
  replica.metric('cheq_authz_verdict_memory_sync_messages_total', { direction });

describe('verdict memory shared through Redis (real redis-server)', function () {
  this.timeout(30_000);
  const replicas: Replica[] = [];
  const servers: RedisServer[] = [];

  function replica(
    settings: RedisConfig,
    maxEntries?: number,
    onLog?: (line: Record<string, unknown>) => void,
  ): Replica {
    const started = startReplica(settings, maxEntries, onLog);
    replicas.push(started);
    return started;
  }

  async function redis(options?: RedisServerOptions, port?: number): Promise<RedisServer> {
    const server = await RedisServer.start(options, port);
    servers.push(server);
    return server;
  }

  afterEach(async () => {
    await Promise.all(replicas.splice(0).map(r => r.sync.close()));
    await Promise.all(servers.splice(0).map(s => s.stop()));
  });

  it('a block learned by one replica is recalled by the other; forgets travel too', async () => {
    const server = await redis();
    const a = replica(settingsFor(server.port));
    const b = replica(settingsFor(server.port));
    await eventually('both replicas up', async () => (await isUp(a)()) && isUp(b)());

    a.memory.remember(bot(1), TTL_MS);
    a.memory.remember(bot(2), TTL_MS);
    a.memory.remember(bot(3), TTL_MS);
    const recalled = await eventually('B recalls bot 1', () => b.memory.recall(bot(1)));
    assert.equal(recalled.key, 'ip_ua');
    assert.ok(b.memory.recall(bot(3)));
    // Its own changes come back through the stream too: A skips them.
    await eventually('B received 6 keys', async () => (await messages(b, 'received')) === 6);
    assert.equal(a.memory.counts.learned.peer, 0);
    assert.equal(await messages(a, 'received'), 0);
    assert.equal(await messages(a, 'published'), 6);
    assert.match(
      await b.registry.getSingleMetricAsString('cheq_authz_verdict_memory_sync_lag_seconds'),
      /_count 6$/m,
      'the lag of each live change observed',
    );

    // RTI now allows bot 1 at B: A forgets it.
    b.memory.forget(bot(1));
    await eventually('A forgot bot 1', () => a.memory.recall(bot(1)) === undefined);
    assert.ok(a.memory.recall(bot(2)));
    // An operator forgets every key of bot 2's IP at A: B forgets whatever the User-Agent.
    a.memory.apply({ op: 'forget_ip', tag: ipTag('default', bot(2).clientIp)! }, 'admin');
    await eventually(
      'B forgot bot 2 by IP',
      () => b.memory.recall({ ...bot(2), duid: undefined }) === undefined,
    );
    // And everything.
    a.memory.apply({ op: 'forget_all' }, 'admin');
    await eventually('B forgot everything', () => b.memory.size === 0);
    assert.equal(b.memory.counts.forgotten.peer > 0, true);
  });

  it('trims the stream to about verdict_memory_max_entries as it writes (XADD MAXLEN ~)', async () => {
    const server = await redis();
    const a = replica(settingsFor(server.port), 1000);
    await eventually('A up', isUp(a));
    for (let n = 0; n < 1500; n++) {
      a.memory.remember({ ...bot(n), clientIp: `198.51.${n >> 8}.${n & 255}` }, TTL_MS);
    }
    await eventually('published', async () => (await messages(a, 'published')) === 3000);
    const reader = createClient({ socket: { host: '127.0.0.1', port: server.port } });
    await reader.connect();
    const length = await reader.xLen(STREAM);
    reader.destroy();
    assert.ok(length >= 1000 && length < 3000, `stream length ${length}`);
  });

  it('close() still sends the changes of the last tick', async () => {
    const server = await redis();
    const a = startReplica(settingsFor(server.port));
    const b = replica(settingsFor(server.port));
    await eventually('both up', async () => (await isUp(a)()) && isUp(b)());
    a.memory.remember(bot(10), TTL_MS);
    await a.sync.close();
    const recalled = await eventually('B recalls bot 10', () => b.memory.recall(bot(10)));
    assert.equal(recalled.key, 'ip_ua');
  });

  it('a replica started later reads back the blocks published before it', async () => {
    const server = await redis();
    const a = replica(settingsFor(server.port));
    await eventually('A up', isUp(a));
    a.memory.remember(bot(4), TTL_MS);
    await eventually('published', async () => (await messages(a, 'published')) === 2);
    const late = replica(settingsFor(server.port));
    await eventually('the late replica recalls bot 4', () => late.memory.recall(bot(4)));
    // Read back, not live: no lag observed for it.
    assert.match(
      await late.registry.getSingleMetricAsString('cheq_authz_verdict_memory_sync_lag_seconds'),
      /_count 0$/m,
    );
  });

  it('counts garbage in the stream as invalid and ignores it', async () => {
    const server = await redis();
    const a = replica(settingsFor(server.port));
    await eventually('A up', isUp(a));
    const writer = createClient({ socket: { host: '127.0.0.1', port: server.port } });
    await writer.connect();
    const now = Date.now();
    const good = {
      op: 'block',
      key: 'i:AAAAAAAAAAAAAAAAAAAAAA',
      exp: now + 60_000,
      from: 'peer',
      at: now,
    };
    const garbage = [
      'not json',
      JSON.stringify({ ...good, key: 'i:short' }),
      JSON.stringify({ ...good, key: 'x:AAAAAAAAAAAAAAAAAAAAAA' }),
      JSON.stringify({ ...good, exp: now + 400 * 24 * 3600_000 }),
      JSON.stringify({ ...good, op: 'delete_everything' }),
      JSON.stringify({ ...good, tag: 'i:AAAAAAAAAAAAAAAAAAAAAA' }),
      JSON.stringify({ ...good, from: 'x'.repeat(2000) }),
    ];
    for (const text of garbage) await writer.xAdd(STREAM, '*', { c: text });
    await writer.xAdd(STREAM, '*', { other: JSON.stringify(good) });
    await writer.xAdd(STREAM, '*', { c: JSON.stringify(good) });
    writer.destroy();
    await eventually('the valid one applied', async () => (await messages(a, 'received')) === 1);
    assert.equal(await messages(a, 'invalid'), garbage.length + 1);
    assert.equal(a.memory.size, 1);
  });

  it('with AUTH: the right password shares; a wrong one leaves sharing down, said once, without the password', async () => {
    const server = await redis({ password: PASSWORD });
    const good = replica(settingsFor(server.port, { password: PASSWORD }));
    const wrong = replica(settingsFor(server.port, { password: 'not-the-Pa55word' }));
    await eventually('the right password connects', isUp(good));
    const lost = await eventually('the wrong one is said', () =>
      wrong.logs.find(l =>
        String(l['msg']).startsWith('verdict memory sharing through Redis lost'),
      ),
    );
    assert.equal(lost['level'], 'warn');
    assert.match(String(lost['msg']), /WRONGPASS|invalid username-password/);
    assert.equal(await isUp(wrong)(), false);
    // The local memory works without Redis.
    wrong.memory.remember(bot(5), TTL_MS);
    assert.ok(wrong.memory.recall(bot(5)));
    await eventually(
      'retried at least twice',
      () =>
        wrong.logs.filter(l => l['msg'] === 'verdict memory sharing through Redis: still down')
          .length >= 2,
    );
    const warns = wrong.logs.filter(l => l['level'] === 'warn');
    assert.equal(warns.length, 1, 'one warn line per outage');
    for (const r of [good, wrong]) {
      const text = JSON.stringify(r.logs) + (await r.registry.metrics());
      assert.ok(!text.includes('Pa55word'), 'no password in logs or metrics');
    }
  });

  it('a Redis that reads but refuses writes (a replica): one warn, no reconnects, peers still read, ours sent once it accepts', async () => {
    const primary = await redis();
    const readOnly = await redis({ replicaOf: primary.port });
    const peer = replica(settingsFor(primary.port));
    const ro = replica(settingsFor(readOnly.port));
    await eventually('both up', async () => (await isUp(peer)()) && isUp(ro)());
    ro.memory.remember(bot(1), TTL_MS);
    const refused = 'verdict memory sharing through Redis: writes still refused';
    const disconnects = () => ro.metric('cheq_authz_verdict_memory_sync_disconnects_total');
    // Retried with backoff (0.1, 0.2, 0.4, 0.8 s...): five refusals are a few seconds of it. A
    // refusal that dropped the connection (the reconnect storm this guards against) ends the wait.
    await eventually(
      'refused five times, or disconnected',
      async () =>
        ro.logs.filter(l => l['msg'] === refused).length >= 5 || (await disconnects()) !== 0,
    );
    assert.equal(await disconnects(), 0);
    const warns = ro.logs.filter(l => l['level'] === 'warn');
    assert.equal(warns.length, 1, JSON.stringify(warns));
    assert.match(
      String(warns[0]?.['msg']),
      /^verdict memory sharing through Redis: writes refused: READONLY/,
    );
    assert.equal(await isUp(ro)(), true, 'connected and following');
    assert.equal(await messages(ro, 'published'), 0);
    // The peers' changes still arrive through the replica.
    peer.memory.remember(bot(2), TTL_MS);
    await eventually('the read-only replica recalls bot 2', () => ro.memory.recall(bot(2)));
    const admin = createClient({ socket: { host: '127.0.0.1', port: readOnly.port } });
    await admin.connect();
    try {
      const stats = await admin.info('stats');
      const connections = Number(/total_connections_received:(\d+)/.exec(stats)?.[1]);
      // The helper's start probe, the replica's two, this one.
      assert.ok(connections <= 4, `${connections} connections`);
      // Promoted, it takes the writes: the buffer is sent, said once at info.
      await admin.sendCommand(['REPLICAOF', 'NO', 'ONE']);
      await eventually('writes accepted', () =>
        ro.logs.find(
          l => l['msg'] === 'verdict memory sharing through Redis: writes accepted again',
        ),
      );
      assert.equal(await messages(ro, 'published'), 2, 'both keys of bot 1');
      assert.equal(await admin.xLen(STREAM), 2 + 2);
    } finally {
      admin.destroy();
    }
  });

  it('a batch Redis takes in part (OOM midway) is sent on from what was refused: each change once in the stream, counted once', async () => {
    const server = await redis();
    const a = replica(settingsFor(server.port));
    await eventually('A up', isUp(a));
    const admin = createClient({ socket: { host: '127.0.0.1', port: server.port } });
    await admin.connect();
    try {
      // The stream exists and the connections have carried a batch before.
      a.memory.remember(bot(250), TTL_MS);
      await eventually('published', async () => (await messages(a, 'published')) === 2);
      // Room for part of one batch (a change takes about 170 bytes of Redis's memory, the batch's
      // commands up to about 50 KB of read buffer; Redis took 228 to 388 of 500 in trials): past
      // it XADD is refused with OOM (maxmemory under noeviction).
      const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
      await admin.configSet('maxmemory', String(used + 90_000));
      // 250 bots: 500 changes, one batch.
      for (let n = 0; n < 250; n++) {
        a.memory.remember({ ...bot(n), clientIp: `198.51.100.${n}` }, TTL_MS);
      }
      const refused = await eventually('refused', () =>
        a.logs.find(l => String(l['msg']).includes('writes refused: OOM')),
      );
      assert.equal(refused['level'], 'warn');
      const taken = (await admin.xLen(STREAM)) - 2;
      assert.ok(taken > 0 && taken < 500, `Redis took ${taken} of the batch`);
      assert.equal(await messages(a, 'published'), 2 + taken);

      await admin.configSet('maxmemory', '0');
      await eventually('writes accepted', () =>
        a.logs.find(
          l => l['msg'] === 'verdict memory sharing through Redis: writes accepted again',
        ),
      );
      assert.equal(await messages(a, 'published'), 502);
      const entries = await admin.xRange(STREAM, '-', '+');
      assert.equal(entries.length, 502, 'no change appended twice');
      assert.equal(new Set(entries.map(e => e.message['c'])).size, 502);
    } finally {
      admin.destroy();
    }
  });

  it('survives Redis being killed and restarted: reconnects, sends what was learned meanwhile', async () => {
    const server = await redis();
    const a = replica(settingsFor(server.port));
    const b = replica(settingsFor(server.port));
    await eventually('both up', async () => (await isUp(a)()) && isUp(b)());
    a.memory.remember(bot(6), TTL_MS);
    await eventually('B recalls bot 6', () => b.memory.recall(bot(6)));

    await server.kill();
    await eventually('A sees it lost', async () => !(await isUp(a)()));
    a.memory.remember(bot(7), TTL_MS);
    assert.ok(a.memory.recall(bot(6)) && a.memory.recall(bot(7)), 'local memory intact');

    // A restarted Redis has lost its data (nothing is saved): bot 7 must come from A's buffer.
    await server.restart();
    await eventually(
      'B recalls bot 7 learned during the outage',
      () => b.memory.recall(bot(7)),
      20_000,
    );
    assert.ok(b.memory.recall(bot(6)), "B's own memory kept bot 6");
    assert.equal(await a.metric('cheq_authz_verdict_memory_sync_disconnects_total'), 1);
    const said = a.logs.filter(l => /sharing through Redis (lost|restored)/.test(String(l['msg'])));
    assert.deepEqual(
      said.map(l => l['level']),
      ['warn', 'info'],
      JSON.stringify(said),
    );
  });

  it('starts the reconnect backoff over only after reads were answered for 5 s', async () => {
    const server = await redis();
    const admin = createClient({ socket: { host: '127.0.0.1', port: server.port } });
    await admin.connect();
    // Date only: the rule reads Date.now(); sockets, timeouts and the backoff's sleep stay real.
    const clock = installFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      let onRestored = (): void => undefined;
      const a = replica(settingsFor(server.port), undefined, line => {
        if (line['msg'] === 'verdict memory sharing through Redis restored') onRestored();
      });
      const backoffs = () =>
        a.logs
          .filter(l => l['msg'] === 'verdict memory sharing through Redis: reconnecting')
          .map(l => l['backoffMs']);
      // Redis drops both of A's connections (not the admin's) once A follows the stream.
      const dropOnceUp = async (reconnects: number) => {
        await eventually('A up', isUp(a));
        const kill = ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'];
        const killed: unknown = await admin.sendCommand(kill);
        assert.equal(killed, 2);
        await eventually(`reconnect ${reconnects}`, () => backoffs().length === reconnects);
      };

      // Dropped as soon as it follows: the backoff doubles.
      await dropOnceUp(1);
      await dropOnceUp(2);
      assert.deepEqual(backoffs(), [100, 200]);

      // A read answered 5 s after the first: that session worked, the backoff starts over.
      await eventually('A up', isUp(a));
      clock.tick(5000);
      await admin.xAdd(STREAM, '*', { c: 'read 5 s after the first' });
      await eventually('A read it', async () => (await messages(a, 'invalid')) === 1);
      // The next session stops being answered right at its first read (Redis stopped while
      // A says it is restored, before A sends its second read), and 10 s pass.
      onRestored = () => {
        onRestored = () => undefined;
        server.pause();
        clock.tick(10_000);
      };
      await dropOnceUp(3);
      assert.deepEqual(backoffs(), [100, 200, 100]);

      // Connected 10 s but answered nothing after its first read: waiting on a silent Redis is
      // not following, so the backoff keeps growing.
      await eventually('A drops the silent Redis', () => backoffs().length === 4);
      server.resume();
      assert.deepEqual(backoffs(), [100, 200, 100, 200]);
    } finally {
      clock.uninstall();
      admin.destroy();
    }
  });

  it('keeps at most 10,000 changes while Redis is away (the rest counted dropped), then sends them', async () => {
    const port = await freePort();
    const a = replica(settingsFor(port), 20_000);
    await eventually('A says it cannot connect', () => a.logs.find(l => l['level'] === 'warn'));
    for (let n = 0; n < 5003; n++) {
      a.memory.remember({ ...bot(n), clientIp: `198.51.${n >> 8}.${n & 255}` }, TTL_MS);
    }
    assert.equal(await messages(a, 'dropped'), 6);
    await redis({}, port);
    await eventually(
      'all 10,000 published',
      async () => (await messages(a, 'published')) === 10_000,
      20_000,
    );
  });

  it('a stopped Redis (SIGSTOP) is dropped and reconnected; close() does not wait for it', async () => {
    const server = await redis();
    const a = replica(settingsFor(server.port));
    const b = replica(settingsFor(server.port));
    await eventually('both up', async () => (await isUp(a)()) && isUp(b)());
    server.pause();
    a.memory.remember(bot(8), TTL_MS);
    assert.ok(a.memory.recall(bot(8)), 'remembering does not wait for Redis');
    await eventually('A notices Redis answers nothing', async () => !(await isUp(a)()));
    server.resume();
    await eventually('B recalls bot 8 after Redis resumed', () => b.memory.recall(bot(8)), 20_000);
    // Stopped again, close() returns (the connections are destroyed, not quit).
    server.pause();
    await Promise.all(replicas.splice(0).map(r => r.sync.close()));
    server.resume();
  });

  it('close() returns at once while Redis is unreachable', async () => {
    const a = startReplica(settingsFor(await freePort()));
    await eventually('A says it cannot connect', () => a.logs.find(l => l['level'] === 'warn'));
    await a.sync.close();
    assert.equal(await isUp(a)(), false);
  });

  it('close() right after the start connects to nothing (node-redis being loaded meanwhile)', async () => {
    // A server that accepts and never answers: a connection made would be seen here.
    const accepted: Socket[] = [];
    const silent = createServer(socket => accepted.push(socket));
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve));
    try {
      const a = startReplica(settingsFor((silent.address() as AddressInfo).port));
      await a.sync.close();
      assert.equal(accepted.length, 0);
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise(resolve => silent.close(resolve));
    }
  });

  describe('over TLS (rediss://, redis-server --tls-port)', () => {
    let pki: TestPki;
    before(() => {
      pki = TestPki.create();
    });
    after(() => pki.remove());

    it('shares with the CA given, and refuses a server its CA did not sign', async () => {
      const ca = pki.ca('redis-ca');
      const cert = pki.issue(ca, 'redis-server', 'server');
      const server = await redis({
        tls: { certFile: cert.certFile, keyFile: cert.keyFile, caFile: ca.certFile },
      });
      const tls = { ca: ca.cert, cert: undefined, key: undefined };
      const a = replica(settingsFor(server.port, { tls }));
      const b = replica(settingsFor(server.port, { tls }));
      await eventually('both up over TLS', async () => (await isUp(a)()) && isUp(b)());
      a.memory.remember(bot(9), TTL_MS);
      await eventually('B recalls bot 9', () => b.memory.recall(bot(9)));

      const other = pki.ca('other-ca');
      const stranger = replica(settingsFor(server.port, { tls: { ...tls, ca: other.cert } }));
      const lost = await eventually('the stranger is refused', () =>
        stranger.logs.find(l => l['level'] === 'warn'),
      );
      assert.match(String(lost['msg']), /certificate/i);
      // Plaintext to the TLS port is no sharing either.
      const plain = replica(settingsFor(server.port));
      await eventually('plaintext refused', () => plain.logs.find(l => l['level'] === 'warn'));
      assert.equal(await isUp(plain)(), false);
    });

    it('presents the client certificate to a Redis that asks for one (mutual TLS)', async () => {
      const ca = pki.ca('redis-mtls-ca');
      const cert = pki.issue(ca, 'redis-mtls-server', 'server');
      const client = pki.issue(ca, 'redis-mtls-client', 'client');
      const server = await redis({
        tls: {
          certFile: cert.certFile,
          keyFile: cert.keyFile,
          caFile: ca.certFile,
          clientCerts: true,
        },
      });
      const withCert = replica(
        settingsFor(server.port, { tls: { ca: ca.cert, cert: client.cert, key: client.key } }),
      );
      const without = replica(
        settingsFor(server.port, { tls: { ca: ca.cert, cert: undefined, key: undefined } }),
      );
      await eventually('up with the client certificate', isUp(withCert));
      await eventually('refused without', () => without.logs.find(l => l['level'] === 'warn'));
      assert.equal(await isUp(without)(), false);
    });
  });
});
