// `cheq-rti-authz forget` against a running server process, as an operator runs it next to the
// server (kubectl exec): it reads the same configuration, calls the admin endpoint with the
// token, and a forgotten bot is failed open again while RTI cannot be asked. Without a token but
// with redis_url, it appends the forget to the stream a real redis-server holds.

import { strict as assert } from 'node:assert';
import { servedSites } from '../../src/config/load-config';
import type { Visitor } from '../../src/core/block-memory';
import { memoryScope } from '../../src/core/memory-scope';
import { eventually } from '../helpers/eventually';
import { RedisServer } from '../helpers/redis-server';
import { createUpstreamAuthorizationClient, upstreamCheck } from '../helpers/upstream-protos';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { closedPortUrl } from '../helpers/rti-per-test';
import { runMain, startServerProcess, type ServerProcess } from '../helpers/server-process';
import {
  loopbackSettings,
  metricValue,
  startService,
  type TestService,
} from '../helpers/start-service';

const TOKEN = 'admin-token-for-tests-0123456789abcdefXYZ';

interface CheckAnswer {
  readonly denied_response?: { status?: { code?: number } } | null;
  readonly ok_response?: unknown;
}

describe('cheq-rti-authz forget (integration, server process)', function () {
  this.timeout(40_000);
  let rti: FakeRti;
  let proc: ServerProcess;
  let env: Record<string, string>;
  let grpcAddress: string;

  before(async () => {
    rti = await FakeRti.start();
    const settings = {
      ...loopbackSettings(rti.url),
      CHEQ_MODE: 'blocking',
      CHEQ_WARMUP_CHECKS: '0',
      CHEQ_ADMIN_TOKEN: TOKEN,
    };
    proc = startServerProcess([], settings);
    const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
    grpcAddress = `127.0.0.1:${line['grpcPort'] as number}`;
    // The command reads the server's own settings: its default server is this metrics port.
    env = { ...settings, CHEQ_METRICS_PORT: String(line['metricsPort']) };
  });
  after(async () => {
    if (proc) assert.equal(await proc.stop(), 0);
    await rti.close();
  });

  async function check(peer: string): Promise<CheckAnswer> {
    const client = createUpstreamAuthorizationClient(grpcAddress);
    try {
      return (await upstreamCheck(client, envoyCheckRequest({ peer }))) as CheckAnswer;
    } finally {
      client.close();
    }
  }

  it('forgets a bot on the running server: it is failed open again during an RTI outage', async () => {
    rti.behaviour = () => verdict({ isInvalid: true, threatTypeCode: 2 });
    assert.equal((await check('203.0.113.7')).denied_response?.status?.code, 403);
    rti.behaviour = () => ({ kind: 'reset' });
    assert.equal((await check('203.0.113.7')).denied_response?.status?.code, 403, 'remembered');

    const run = await runMain(['forget', '--ip', '203.0.113.7'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'forgot 1 remembered block(s) (shared: local)\n');
    const allowed = await check('203.0.113.7');
    assert.ok(allowed.ok_response, 'failed open like any visitor');
    const line = await proc.waitForLine(
      l => l['msg'] === 'verdict memory: an operator forgot remembered blocks',
    );
    assert.equal(line['kind'], 'ip');
    assert.ok(!proc.stdout.includes(TOKEN) && !proc.stderr.includes(TOKEN));
  });

  it('takes --user-agent, --duid, --all and --site, and the --flag=value form', async () => {
    for (const args of [
      ['--ip=198.51.100.1', '--user-agent', 'curl/8.5.0'],
      ['--duid', 'duid-1', '--site', 'default'],
      ['--all'],
    ]) {
      const run = await runMain(['forget', ...args], env);
      assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stdout, /^forgot \d+ remembered block\(s\) \(shared: local\)\n$/);
    }
  });

  it('exits 1 when the server refuses the call, naming no token', async () => {
    const wrong = `${TOKEN.slice(0, -1)}!`;
    let run = await runMain(['forget', '--all'], { ...env, CHEQ_ADMIN_TOKEN: wrong });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /answered 401: a valid admin token is required/);
    assert.ok(!run.stderr.includes(wrong) && !run.stdout.includes(wrong));

    run = await runMain(['forget', '--duid', 'x', '--site', 'blog'], env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /answered 400: site names none of the served sites/);
  });

  it('exits 1 when no server answers', async () => {
    const run = await runMain(['forget', '--all', '--server', await closedPortUrl()], env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the call to http:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
  });

  it('exits 2 on bad flags, naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [[], /give exactly one of --ip, --duid and --all/],
      [['--ip', 'bot.example'], /--ip must be an IPv4 or IPv6 address/],
      [['--ip', '::1', '--duid', 'x'], /give exactly one of --ip, --duid and --all/],
      [['--duid', 'x', '--user-agent', 'curl'], /--user-agent needs --ip/],
      [['--all', '--site', 'default'], /--site cannot be given with --all/],
      [['--ip'], /--ip needs a value/],
      [['--all', '--server', 'ftp://127.0.0.1'], /--server must be an http:\/\/ or https:\/\/ URL/],
    ];
    for (const [args, message] of cases) {
      const run = await runMain(['forget', ...args], env);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, message, args.join(' '));
      assert.match(run.stderr, /Usage: cheq-rti-authz forget/);
    }
  });

  it('exits 2 on a bad configuration, or without an admin token', async () => {
    let run = await runMain(['forget', '--all', '--no-such-flag', 'x'], env);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--no-such-flag/);
    run = await runMain(['forget', '--all'], { ...env, CHEQ_ADMIN_TOKEN: 'short' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /admin_token \(CHEQ_ADMIN_TOKEN\): must be at least 32 characters/);
    run = await runMain(['forget', '--all'], { ...env, CHEQ_ADMIN_TOKEN: '' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /no admin_token \(or admin_token_file\) is configured, nor redis_url/);
  });
});

describe('cheq-rti-authz forget without an admin token: through Redis (integration)', function () {
  this.timeout(40_000);
  const PASSWORD = 'redis-password-for-tests-0123456789';
  let rti: FakeRti;
  let redis: RedisServer;
  let service: TestService;
  let env: Record<string, string>;

  before(async () => {
    rti = await FakeRti.start();
    redis = await RedisServer.start({ password: PASSWORD });
    env = {
      ...loopbackSettings(rti.url),
      CHEQ_REDIS_URL: redis.url(),
      CHEQ_REDIS_PASSWORD: PASSWORD,
    };
    service = await startService(rti.url, env);
    await eventually(
      'the server follows the stream',
      async () =>
        metricValue(await service.metrics(), 'cheq_authz_verdict_memory_sync_up', {
          backend: 'redis',
        }) === 1,
    );
  });
  after(async () => {
    await service?.close();
    await redis?.stop();
    await rti?.close();
  });

  it('appends the forget to the stream: the running server applies it as a peer', async () => {
    const site = servedSites(service.config)[0];
    assert.ok(site);
    const bot: Visitor = {
      site: memoryScope(site.name, site.core),
      clientIp: '203.0.113.7',
      userAgent: 'ScrapeBot/2.1',
      duid: undefined,
    };
    const { memory } = service.app;
    memory.remember(bot, 300_000);
    const run = await runMain(['forget', '--ip', '203.0.113.7'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      `published 1 change(s) to Redis 127.0.0.1:${redis.port} stream ` +
        'cheq-rti-authz:verdict-memory: every replica applies them\n',
    );
    await eventually('the server forgot the bot', () => memory.recall(bot) === undefined);
    assert.equal(memory.counts.forgotten.peer, 1);
  });

  it('exits 1 when Redis refuses the login or cannot be reached, printing no password', async () => {
    const wrong = 'not-the-redis-password-0123456789';
    let run = await runMain(['forget', '--all'], { ...env, CHEQ_REDIS_PASSWORD: wrong });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /publishing to Redis 127\.0\.0\.1:\d+ stream .* failed: WRONGPASS/);
    assert.ok(!run.stderr.includes(wrong) && !run.stderr.includes(PASSWORD));
    const closed = new URL(await closedPortUrl());
    run = await runMain(['forget', '--all'], {
      ...env,
      CHEQ_REDIS_URL: `redis://127.0.0.1:${closed.port}`,
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /failed: .*ECONNREFUSED/);
  });

  it('exits 2 for a site not served, and for --server without an admin token', async () => {
    let run = await runMain(['forget', '--duid', 'x', '--site', 'blog'], env);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /: --site names none of the served sites\n$/);
    run = await runMain(['forget', '--all', '--server', 'http://127.0.0.1:1'], env);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--server needs an admin token/);
  });
});
