// Connections opened to RTI ahead of traffic: handed to the pool first, dropped when RTI closes
// them or nobody took them in time, never handed out closed.

import { strict as assert } from 'node:assert';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Preconnector } from '../../src/rti/preconnector';

/** Takes a socket from the connector the way undici's pool does. */
function take(preconnector: Preconnector, origin: URL): Promise<Socket> {
  return new Promise((resolve, reject) =>
    preconnector.connect(
      {
        hostname: origin.hostname,
        host: origin.host,
        protocol: origin.protocol,
        port: origin.port,
      },
      (err, socket) => (err ? reject(err) : resolve(socket)),
    ),
  );
}

/** The server side sees a connection a little after the client side. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await sleep(5);
  assert.ok(condition());
}

describe('Preconnector (integration)', () => {
  let server: Server;
  let accepted: Socket[];
  let origin: URL;
  let preconnector: Preconnector | undefined;

  beforeEach(async () => {
    accepted = [];
    server = createServer(socket => accepted.push(socket));
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    origin = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  afterEach(async () => {
    preconnector?.close();
    for (const socket of accepted) socket.destroy();
    await new Promise(resolve => server.close(resolve));
  });

  it('opens connections ahead and hands them out before opening new ones', async () => {
    preconnector = new Preconnector(origin, 10_000);
    assert.deepEqual(await preconnector.open(2, 1000), { opened: 2 });
    await until(() => accepted.length === 2);
    const first = await take(preconnector, origin);
    const second = await take(preconnector, origin);
    assert.notEqual(first, second);
    assert.equal(accepted.length, 2, 'no new connection for the first two');
    const third = await take(preconnector, origin);
    await until(() => accepted.length === 3);
    for (const socket of [first, second, third]) socket.destroy();
  });

  it('drops a connection RTI closed while it was idle', async () => {
    preconnector = new Preconnector(origin, 10_000);
    await preconnector.open(1, 1000);
    await until(() => accepted.length === 1);
    accepted[0]?.end();
    await sleep(50);
    const socket = await take(preconnector, origin);
    assert.ok(!socket.destroyed && socket.writable, 'a new, open connection');
    await until(() => accepted.length === 2);
    socket.destroy();
  });

  it('closes connections nobody took within maxIdleMs, and hands out a new one after', async () => {
    preconnector = new Preconnector(origin, 50);
    await preconnector.open(1, 1000);
    await until(() => accepted.length === 1);
    const closed = new Promise<'closed'>(resolve =>
      accepted[0]?.once('close', () => resolve('closed')),
    );
    accepted[0]?.resume();
    // 100 × maxIdleMs: a bound for a close that would never come, not a timing margin.
    const bound = new AbortController();
    const gaveUp = sleep(5000, 'still open' as const, { signal: bound.signal }).catch(
      () => 'ended',
    );
    const outcome = await Promise.race([closed, gaveUp]);
    bound.abort();
    assert.equal(outcome, 'closed');
    const socket = await take(preconnector, origin);
    await until(() => accepted.length === 2);
    assert.ok(!socket.destroyed && socket.writable, 'a new, open connection');
    socket.destroy();
  });

  it('reports the first failure when nothing can be opened', async () => {
    const port = origin.port;
    await new Promise(resolve => server.close(resolve));
    server = createServer();
    preconnector = new Preconnector(new URL(`http://127.0.0.1:${port}`), 10_000);
    const { opened, error } = await preconnector.open(2, 1000);
    assert.equal(opened, 0);
    assert.match(String(error), /ECONNREFUSED/);
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  });
});
