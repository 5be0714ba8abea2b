// Connections that hold a max_connections slot without doing work: each listener must close
// them within its bound, so whoever reaches the port cannot lock the proxy out.

import { strict as assert } from 'node:assert';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { healthStatus } from '../helpers/grpc-health';
import { startService, type TestService } from '../helpers/start-service';

const HEADERS_TIMEOUT_MS = 300;
/** A bound for a close or an answer that never comes without the fix, not a margin. */
const BOUND_MS = 10_000;

const AUTH_REQUEST =
  'GET /api/authz/auth-request HTTP/1.1\r\nHost: authz\r\nX-Original-URI: /\r\n' +
  'X-Original-Method: GET\r\nX-Real-IP: 203.0.113.9\r\n\r\n';

/** A socket whose peer never reads what it is sent and never closes its side. */
function openSilent(port: number, send: string): Socket {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
    if (send !== '') socket.write(send);
  });
  socket.pause();
  socket.on('error', () => undefined);
  return socket;
}

/** The status of one request on a fresh connection; undefined when closed unanswered. */
function statusOf(port: number, socket = connect(port, '127.0.0.1')): Promise<number | undefined> {
  return new Promise(resolve => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      if (status && text.includes('\r\n\r\n')) {
        socket.removeAllListeners('data');
        resolve(Number(status[1]));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(undefined));
    socket.write(AUTH_REQUEST);
  });
}

/** Retries a fresh request until it is answered (connections past the limit are dropped). */
async function answeredWithin(port: number, boundMs: number): Promise<number | undefined> {
  const until = performance.now() + boundMs;
  for (;;) {
    const socket = connect(port, '127.0.0.1');
    const status = await statusOf(port, socket);
    socket.destroy();
    if (status !== undefined || performance.now() > until) return status;
    await sleep(50);
  }
}

/** Retries a gRPC health check on a fresh client until it is answered. */
async function servingWithin(address: string, boundMs: number): Promise<string | undefined> {
  const until = performance.now() + boundMs;
  for (;;) {
    const status = await healthStatus(address).catch(() => undefined);
    if (status !== undefined || performance.now() > until) return status;
    await sleep(50);
  }
}

describe('idle and unfinished connections', function () {
  this.timeout(60_000);
  let rti: FakeRti;
  let service: TestService;
  const sockets: Socket[] = [];

  before(async () => {
    rti = await FakeRti.start();
    rti.behaviour = () => verdict({});
    service = await startService(rti.url, {
      CHEQ_MAX_CONNECTIONS: '2',
      CHEQ_HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      CHEQ_HTTP_KEEPALIVE_TIMEOUT_MS: '60000',
    });
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
  });
  after(async () => {
    await service?.close();
    await rti?.close();
  });

  it('frees the slots of peers that send a malformed request and never read the 400', async () => {
    const port = service.app.httpPort;
    for (let i = 0; i < 2; i++) sockets.push(openSilent(port, 'NOT HTTP\r\n\r\n'));
    assert.equal(await answeredWithin(port, BOUND_MS), 200, 'the slots are still held');
  });

  it('frees the slots of peers that send nothing and never read', async () => {
    const port = service.app.httpPort;
    for (let i = 0; i < 2; i++) sockets.push(openSilent(port, i === 0 ? '' : 'GET / HT'));
    assert.equal(await answeredWithin(port, BOUND_MS), 200, 'the slots are still held');
  });

  // The gRPC listener holds a plaintext connection until its HTTP/2 preface has arrived.
  const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
  for (const [what, send] of [
    ['nothing', ''],
    ['part of the HTTP/2 preface', PREFACE.slice(0, 10)],
    ['the preface magic without its SETTINGS frame', PREFACE],
  ] as const) {
    it(`frees the gRPC slots of peers that send ${what} and never read`, async () => {
      for (let i = 0; i < 2; i++) sockets.push(openSilent(service.app.grpcPort, send));
      assert.equal(await servingWithin(service.grpcAddress, BOUND_MS), 'SERVING');
    });
  }

  it('closes a gRPC connection whose first bytes are no HTTP/2 preface at once', async () => {
    const socket = connect(service.app.grpcPort, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => undefined);
    const closed = new Promise<void>(resolve => socket.once('close', () => resolve()));
    socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    const text = await service.metrics();
    assert.match(
      text,
      /cheq_authz_rejected_requests_total\{transport="grpc",reason="bad_preface"\} [1-9]/,
    );
  });

  it('keeps an idle keep-alive connection open past http_headers_timeout_ms', async () => {
    const socket = connect(service.app.httpPort, '127.0.0.1');
    sockets.push(socket);
    assert.equal(await statusOf(service.app.httpPort, socket), 200);
    // Idle between requests: only http_keepalive_timeout_ms (60 s) applies.
    await sleep(HEADERS_TIMEOUT_MS * 5);
    assert.equal(await statusOf(service.app.httpPort, socket), 200);
  });
});
