// Two real server processes (the bin, as an operator runs it) sharing one real redis-server with
// AUTH: both follow the stream, a wrong password leaves a server serving with one clear line and no
// password anywhere, and a stopped Redis (SIGSTOP) neither delays a check nor a shutdown.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { eventually } from '../helpers/eventually';
import { FakeRti } from '../helpers/fake-rti-server';
import { RedisServer } from '../helpers/redis-server';
import { runMain, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { loopbackSettings } from '../helpers/start-service';
import { createUpstreamAuthorizationClient, upstreamCheck } from '../helpers/upstream-protos';

const PASSWORD = 'Redis-Pr0cess-S3cret';
const STREAM = 'cheq-rti-authz:verdict-memory';

interface Running {
  readonly proc: ServerProcess;
  readonly grpcPort: number;
  readonly metricsPort: number;
}

describe('server processes sharing the verdict memory through a real redis-server', function () {
  this.timeout(40_000);
  let rti: FakeRti;
  let redis: RedisServer;
  let tmp: string;
  const running: ServerProcess[] = [];

  before(async () => {
    redis = await RedisServer.start({ password: PASSWORD });
    rti = await FakeRti.start();
    tmp = mkdtempSync(join(tmpdir(), 'cheq-redis-process-'));
  });
  after(async () => {
    await Promise.all(running.splice(0).map(proc => proc.stop('SIGKILL')));
    await rti.close();
    await redis.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function startServer(password: string): Promise<Running> {
    const passwordFile = join(tmp, `password-${running.length}`);
    writeFileSync(passwordFile, `${password}\n`);
    const proc = startServerProcess([], {
      ...loopbackSettings(rti.url),
      CHEQ_WARMUP_CHECKS: '0',
      CHEQ_REDIS_URL: redis.url(),
      CHEQ_REDIS_PASSWORD_FILE: passwordFile,
    });
    running.push(proc);
    const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
    return {
      proc,
      grpcPort: line['grpcPort'] as number,
      metricsPort: line['metricsPort'] as number,
    };
  }

  async function metric(server: Running, pattern: RegExp): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    const value = pattern.exec(text)?.[1];
    return value === undefined ? undefined : Number(value);
  }

  const SYNC_UP = /^cheq_authz_verdict_memory_sync_up\{backend="redis"\} (\S+)$/m;
  const RECEIVED = /^cheq_authz_verdict_memory_sync_messages_total\{direction="received"\} (\S+)$/m;

  async function check(server: Running): Promise<CheckResponse__Output> {
    const client = createUpstreamAuthorizationClient(`127.0.0.1:${server.grpcPort}`);
    try {
      return (await upstreamCheck(client, envoyCheckRequest(), 5000)) as CheckResponse__Output;
    } finally {
      client.close();
    }
  }

  it('both follow the stream and apply what a peer publishes; a wrong password only stops sharing', async () => {
    const one = await startServer(PASSWORD);
    const two = await startServer(PASSWORD);
    const wrong = await startServer('not-the-password');
    for (const server of [one, two]) {
      await server.proc.waitForLine(l => l['msg'] === 'verdict memory shared through Redis');
      await eventually('sync up', async () => (await metric(server, SYNC_UP)) === 1);
    }

    // A peer's block, as another replica writes it.
    const peer = createClient({
      socket: { host: '127.0.0.1', port: redis.port },
      password: PASSWORD,
    });
    await peer.connect();
    const now = Date.now();
    const block = {
      op: 'block',
      key: 'i:AAAAAAAAAAAAAAAAAAAAAA',
      exp: now + 60_000,
      from: 'peer',
      at: now,
    };
    await peer.xAdd(STREAM, '*', { c: JSON.stringify(block) });
    peer.destroy();
    for (const server of [one, two]) {
      await eventually('received', async () => (await metric(server, RECEIVED)) === 1);
    }

    // The wrong password: one warn line naming the refusal, checks answered, no password printed.
    const lost = await wrong.proc.waitForLine(l =>
      String(l['msg']).startsWith('verdict memory sharing through Redis lost'),
    );
    assert.equal(lost['level'], 'warn');
    assert.match(String(lost['msg']), /WRONGPASS|invalid username-password/);
    assert.equal((await check(wrong)).status?.code, 0);
    assert.equal(await metric(wrong, SYNC_UP), 0);
    for (const server of [one, two, wrong]) {
      const output = server.proc.stdout + server.proc.stderr;
      assert.ok(!output.includes(PASSWORD) && !output.includes('not-the-password'), output);
    }
  });

  it('answers checks while Redis is stopped (SIGSTOP), and stops without waiting for it', async () => {
    const server = await startServer(PASSWORD);
    await eventually('sync up', async () => (await metric(server, SYNC_UP)) === 1);
    redis.pause();
    try {
      const response = await check(server);
      assert.equal(response.status?.code, 0, 'allowed by RTI, Redis not asked');
      assert.equal(await server.proc.stop('SIGTERM'), 0);
    } finally {
      redis.resume();
    }
  });

  it('check-config shows redis_url redacted; a bad scheme exits 2 naming the setting, not the password', async () => {
    const env = {
      ...loopbackSettings(rti.url),
      CHEQ_REDIS_URL: `redis://cheq:${PASSWORD}@redis:6379`,
    };
    const ok = await runMain(['check-config'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\n {2}redis_url +redis:\/\/<redacted>@redis:6379\n/);
    assert.ok(!ok.stdout.includes(PASSWORD));
    const bad = await runMain([], { ...env, CHEQ_REDIS_URL: `https://cheq:${PASSWORD}@redis` });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /redis_url \(CHEQ_REDIS_URL\): must be a redis:\/\/ or rediss:\/\//);
    assert.ok(!(bad.stdout + bad.stderr).includes(PASSWORD));
  });
});
