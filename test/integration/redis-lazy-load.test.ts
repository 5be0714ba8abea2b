// node-redis costs memory once loaded (src/memory/redis-client.ts): only a process that shares the
// verdict memory through Redis may load it. The bin runs as an operator runs it, under a one-line wrapper
// that says at exit whether any module of node-redis was loaded.

import { strict as assert } from 'node:assert';
import { FakeRti } from '../helpers/fake-rti-server';
import { RedisServer } from '../helpers/redis-server';
import { MAIN, startServerProcess } from '../helpers/server-process';
import { loopbackSettings } from '../helpers/start-service';

/** Runs the bin (its arguments after MAIN), printing {"redisLoaded":…} to stderr at exit. */
const REPORTING_REDIS_AT_EXIT = [
  '-e',
  `process.on('exit', () => process.stderr.write(JSON.stringify({ redisLoaded: Object.keys(require.cache).some(path => /[\\\\/]node_modules[\\\\/](redis|@redis[\\\\/]client)[\\\\/]/.test(path)) }) + '\\n'));
require(process.argv[1]);`,
  MAIN,
];

describe('loading node-redis (integration)', function () {
  this.timeout(30_000);
  let rti: FakeRti;
  let redis: RedisServer;

  before(async () => {
    rti = await FakeRti.start();
    redis = await RedisServer.start();
  });
  after(async () => {
    await rti.close();
    await redis.stop();
  });

  /** Serves with `env` until `ready` is logged, stops, and reads the wrapper's report. */
  async function redisLoadedBy(env: Record<string, string>, ready: string): Promise<boolean> {
    const proc = startServerProcess(
      [],
      { ...loopbackSettings(rti.url), CHEQ_WARMUP_CHECKS: '0', ...env },
      REPORTING_REDIS_AT_EXIT,
    );
    try {
      await proc.waitForLine(line => line['msg'] === ready);
    } finally {
      await proc.stop();
    }
    const report = /^\{"redisLoaded":(true|false)\}$/m.exec(proc.stderr);
    assert.ok(report, `no report at exit:\n${proc.stderr}`);
    return report[1] === 'true';
  }

  it('a server without redis_url never loads it', async () => {
    assert.equal(await redisLoadedBy({}, 'cheq-rti-authz listening'), false);
  });

  it('a server with redis_url loads it and shares', async () => {
    const env = { CHEQ_REDIS_URL: redis.url() };
    assert.equal(await redisLoadedBy(env, 'verdict memory shared through Redis'), true);
  });
});
