// The process lifecycle as an operator meets it, in both modes: what a second stop signal does,
// and what a server that cannot start says and exits with. (Graceful stops, reloads and
// configuration errors have their own tests.)

import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:net';
import { startApp } from '../../src/app';
import { loadConfig } from '../../src/config/load-config';
import { createLogger } from '../../src/observability/logger';
import { FakeRti } from '../helpers/fake-rti-server';
import { startServerProcess } from '../helpers/server-process';
import { loopbackSettings } from '../helpers/start-service';

/** Long enough that a stop is still in its shutdown delay whatever the machine's speed. */
const SHUTDOWN_DELAY_MS = '600000';

describe('process lifecycle (integration)', function () {
  this.timeout(30_000);
  let rti: FakeRti;
  let taken: Server;

  before(async () => {
    rti = await FakeRti.start();
    taken = createServer();
    await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await rti.close();
    await new Promise(resolve => taken.close(resolve));
  });

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return { ...loopbackSettings(rti.url), CHEQ_WARMUP_CHECKS: '0', ...extra };
  }
  const takenPort = (): string => String((taken.address() as { port: number }).port);

  it('one process: a second signal during the stop exits 1 at once', async () => {
    const proc = startServerProcess([], env({ CHEQ_SHUTDOWN_DELAY_MS: SHUTDOWN_DELAY_MS }));
    await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
    proc.child.kill('SIGTERM');
    await proc.waitForLine(l => l['msg'] === 'shutting down: finishing in-flight checks');
    assert.equal(await proc.stop('SIGINT'), 1);
    const last = await proc.waitForLine(l => l['msg'] === 'second signal: exiting now');
    assert.equal(last['signal'], 'SIGINT');
  });

  it('cluster: a second signal kills the workers still stopping, then the primary exits 0', async () => {
    const proc = startServerProcess(
      [],
      env({ CHEQ_WORKERS: '2', CHEQ_SHUTDOWN_DELAY_MS: SHUTDOWN_DELAY_MS }),
    );
    await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
    proc.child.kill('SIGTERM');
    await proc.waitForLine(l => l['msg'] === 'shutting down: workers finish in-flight checks');
    assert.equal(await proc.stop('SIGTERM'), 0);
    await proc.waitForLine(l => l['msg'] === 'second signal: stopping the workers now');
    await proc.waitForLine(l => l['msg'] === 'stopped');
  });

  for (const [mode, portSetting, extra] of [
    ['one process', 'CHEQ_GRPC_PORT', {}],
    ['cluster primary', 'CHEQ_METRICS_PORT', { CHEQ_WORKERS: '2' }],
  ] as const) {
    it(`${mode}: a port in use exits 1, logging why`, async () => {
      const proc = startServerProcess([], env({ ...extra, [portSetting]: takenPort() }));
      assert.equal(await proc.exited, 1);
      const fatal = await proc.waitForLine(l => l['msg'] === 'cannot start');
      assert.equal(fatal['level'], 'fatal');
      assert.match(JSON.stringify(fatal['err']), /EADDRINUSE/);
      assert.ok(!proc.stdout.includes('cheq-rti-authz listening'));
    });
  }
  it('in process: a start that fails on a taken port releases the ports it had bound', async () => {
    // A free port for gRPC, then the taken one for HTTP: gRPC binds first, HTTP fails.
    const probe = createServer();
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve));
    const grpcPort = String((probe.address() as { port: number }).port);
    await new Promise(resolve => probe.close(resolve));
    const config = loadConfig({
      env: env({ CHEQ_GRPC_PORT: grpcPort, CHEQ_HTTP_PORT: takenPort() }),
      args: [],
    });
    const quiet = createLogger('fatal', { write: () => undefined });
    await assert.rejects(startApp(config, quiet), /EADDRINUSE/);
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(Number(grpcPort), '127.0.0.1', resolve);
    });
    await new Promise(resolve => again.close(resolve));
  });
});
