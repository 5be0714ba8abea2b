// Bounded work per connection and in total (issue #20, item 4): a client that pipelines HTTP
// requests without reading answers, or floods gRPC streams and connections, gets bounded work
// out of the server, which stays alive, small, and prompt to answer fresh clients.

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import {
  connect as connectHttp2,
  constants as http2Constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
} from 'node:http2';
import { connect as connectTcp, type Socket } from 'node:net';
import {
  MAX_CHECKS_PER_CONNECTION,
  MAX_WAITING_PER_CONNECTION,
} from '../../src/adapters/http/pipeline-gate';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { MAIN, startServerProcess, type ServerProcess } from '../helpers/server-process';
import {
  loopbackSettings,
  metricValue,
  startService,
  type TestService,
} from '../helpers/start-service';
import {
  createUpstreamAuthorizationClient,
  getUpstreamCheckMethod,
  upstreamCheck,
} from '../helpers/upstream-protos';

const AUTH_REQUEST_PATH = '/api/authz/auth-request';
const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const FRESH_AGENT = 'fresh-probe';
const GRPC_PERMISSION_DENIED = 7;
/** Every fresh client's own deadline: generous, never a margin on machine speed. */
const FRESH_DEADLINE_MS = 5000;
const MiB = 1024 * 1024;

/** A request as NGINX's auth_request subrequest sends it. */
function nginxRequest(uri: string, userAgent: string): string {
  return (
    `GET ${AUTH_REQUEST_PATH} HTTP/1.1\r\nHost: cheq_authz\r\nX-Original-URI: ${uri}\r\n` +
    `X-Original-Method: GET\r\nX-Original-Host: shop.example.com\r\nX-Forwarded-Proto: https\r\n` +
    `X-Real-IP: 203.0.113.9\r\nUser-Agent: ${userAgent}\r\n\r\n`
  );
}

/** RTI denies the fresh probes (so their answer is a real verdict) and allows the rest. */
function denyFreshProbes(form: URLSearchParams): ReturnType<typeof verdict> {
  return (form.get('UserAgent') ?? '').includes(FRESH_AGENT)
    ? verdict({ isInvalid: true, threatTypeCode: 2 })
    : verdict({});
}

/** Opens a gRPC Check stream on `session` (headers only: the caller sends any message). */
function openCheckStream(session: ClientHttp2Session): ClientHttp2Stream {
  const stream = session.request({
    ':method': 'POST',
    ':path': CHECK_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => undefined);
  return stream;
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves true once the server closed `socket`, false if it is still open after waitMs. */
function closedWithin(socket: Socket, waitMs: number): Promise<boolean> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve(true);
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve(false), waitMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('close', done);
    socket.once('end', done);
  });
}

/** An NGINX-style check on a new connection: its status, within its own deadline. */
async function freshNginxCheck(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${AUTH_REQUEST_PATH}`, {
    headers: {
      'x-original-uri': '/fresh',
      'x-original-method': 'GET',
      'x-original-host': 'shop.example.com',
      'user-agent': FRESH_AGENT,
    },
    signal: AbortSignal.timeout(FRESH_DEADLINE_MS),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('bounded work per connection and in total', function () {
  this.timeout(60_000);
  let rti: FakeRti;

  before(async () => {
    rti = await FakeRti.start();
  });
  after(async () => {
    await rti.close();
  });
  beforeEach(() => rti.reset());

  describe('in process', () => {
    let service: TestService;
    let httpPort: number;

    before(async () => {
      service = await startService(rti.url, {
        CHEQ_MODE: 'blocking',
        // No pipelined check ends by itself while the test counts them.
        CHEQ_TIMEOUT_MS: '60000',
        CHEQ_MAX_CONNECTIONS: '8',
      });
      httpPort = Number(new URL(service.httpUrl).port);
    });
    after(async () => {
      await service.close();
    });

    it(`asks RTI for at most ${MAX_CHECKS_PER_CONNECTION} checks of one pipelining connection at once`, async () => {
      rti.behaviour = (form, call) =>
        call.form.get('UserAgent') === 'pipeliner' ? { kind: 'hang' } : denyFreshProbes(form);
      const socket = await openSocket(httpPort);
      socket.on('error', () => undefined);
      try {
        socket.write(nginxRequest('/pipelined', 'pipeliner').repeat(40));
        await rti.waitForCalls(MAX_CHECKS_PER_CONNECTION, FRESH_DEADLINE_MS);
        // Answered after the whole pipeline was parsed: a fifth call would have been made by now.
        assert.equal(await freshNginxCheck(httpPort), 403, 'fresh client gets the RTI verdict');
        const pipelined = rti.calls.filter(c => c.form.get('UserAgent') === 'pipeliner');
        assert.equal(pipelined.length, MAX_CHECKS_PER_CONNECTION);
        assert.equal(await closedWithin(socket, 0), false, 'a pipeline within bounds is kept');
      } finally {
        socket.destroy();
      }
    });

    it('closes a connection that pipelines past its line, counted as pipeline_overflow', async () => {
      rti.behaviour = () => ({ kind: 'hang' });
      const before = metricValue(await service.metrics(), 'cheq_authz_rejected_requests_total', {
        transport: 'http',
        reason: 'pipeline_overflow',
      });
      const socket = await openSocket(httpPort);
      socket.on('error', () => undefined);
      try {
        const count = MAX_CHECKS_PER_CONNECTION + MAX_WAITING_PER_CONNECTION + 1;
        socket.write(nginxRequest('/pipelined', 'pipeliner').repeat(count));
        assert.equal(await closedWithin(socket, FRESH_DEADLINE_MS), true, 'connection closed');
      } finally {
        socket.destroy();
      }
      const after = metricValue(await service.metrics(), 'cheq_authz_rejected_requests_total', {
        transport: 'http',
        reason: 'pipeline_overflow',
      });
      assert.equal(after - before, 1);
      await rti.waitForAborts();
      assert.ok(rti.calls.length <= MAX_CHECKS_PER_CONNECTION, `${rti.calls.length} RTI calls`);
    });

    it('closes a gRPC connection that keeps resetting its streams (rapid reset), and keeps serving', async () => {
      rti.behaviour = denyFreshProbes;
      const grpcPort = Number(service.grpcAddress.split(':')[1]);
      const session = connectHttp2(`http://127.0.0.1:${grpcPort}`);
      session.on('error', () => undefined);
      const goaway = new Promise<number>(resolve => session.once('goaway', resolve));
      await new Promise(resolve => session.once('remoteSettings', resolve));
      let sent = 0;
      // Within the stream limit at every moment: each stream is reset as soon as it is opened.
      while (sent < 5000 && !session.closed && !session.destroyed) {
        for (let i = 0; i < 30; i++, sent++) {
          openCheckStream(session).close(http2Constants.NGHTTP2_CANCEL);
        }
        await new Promise(resolve => setImmediate(resolve));
      }
      // nghttp2's stream reset rate limit (Node 20: 1,000 at once, then 33/s) ends the session.
      assert.ok(sent < 5000, `session still open after ${sent} resets`);
      await goaway;
      session.destroy();
      const grpc = await service.check(
        envoyCheckRequest({ headers: { 'user-agent': FRESH_AGENT } }),
      );
      assert.equal(grpc.status?.code, GRPC_PERMISSION_DENIED);
    });

    it('closes connections past max_connections on both listeners, counted, and serves again after', async () => {
      rti.behaviour = denyFreshProbes;
      const grpcPort = Number(service.grpcAddress.split(':')[1]);
      const held: Socket[] = [];
      const sessions: ReturnType<typeof connectHttp2>[] = [];
      try {
        for (let i = 0; i < 8; i++) held.push(await openSocket(httpPort));
        const extra = await openSocket(httpPort);
        assert.equal(await closedWithin(extra, FRESH_DEADLINE_MS), true, 'HTTP: ninth closed');
        // The in-process service's own gRPC client may hold one: fill up to 8, then one more.
        for (let i = 0; i < 9; i++) {
          const session = connectHttp2(`http://127.0.0.1:${grpcPort}`);
          session.on('error', () => undefined);
          sessions.push(session);
        }
        const closedSessions = await Promise.all(
          sessions.map(
            session =>
              new Promise<boolean>(resolve => {
                // A session the server keeps gets its SETTINGS; a refused one only a close.
                session.once('remoteSettings', () => resolve(false));
                session.once('close', () => resolve(true));
              }),
          ),
        );
        assert.ok(closedSessions.some(Boolean), 'gRPC: a session past the bound closed');
        const text = await service.metrics();
        for (const transport of ['http', 'grpc']) {
          const refused = metricValue(text, 'cheq_authz_rejected_requests_total', {
            transport,
            reason: 'too_many_connections',
          });
          assert.ok(refused >= 1, `${transport} refusals counted`);
        }
        assert.ok(
          service.logs.some(l => l['reason'] === 'too_many_connections'),
          'refusal logged',
        );
      } finally {
        for (const socket of held) socket.destroy();
        for (const session of sessions) session.destroy();
      }
      // Once the server has seen them close, a fresh client gets in (polled: closes are async).
      const until = Date.now() + FRESH_DEADLINE_MS;
      let status = 0;
      while (status !== 403 && Date.now() < until) {
        status = await freshNginxCheck(httpPort).catch(() => 0);
      }
      assert.equal(status, 403);
      const grpc = await service.check(
        envoyCheckRequest({ headers: { 'user-agent': FRESH_AGENT } }),
      );
      assert.equal(grpc.status?.code, GRPC_PERMISSION_DENIED);
    });
  });

  describe('a server process under a flood (heap capped at 160 MB)', () => {
    let proc: ServerProcess;
    let httpPort: number;
    let grpcPort: number;

    before(async () => {
      proc = startServerProcess(
        [],
        {
          ...loopbackSettings(rti.url),
          CHEQ_MODE: 'blocking',
          CHEQ_TIMEOUT_MS: '4000',
          CHEQ_WARMUP_CHECKS: '0',
        },
        ['--max-old-space-size=160', MAIN],
      );
      const line = await proc.waitForLine(l => l['msg'] === 'cheq-rti-authz listening');
      httpPort = line['httpPort'] as number;
      grpcPort = line['grpcPort'] as number;
    });
    after(async () => {
      if (proc.child.exitCode === null) await proc.stop();
    });

    it('stays alive and small, and answers fresh clients during and after the flood', async () => {
      rti.behaviour = denyFreshProbes;
      const client = createUpstreamAuthorizationClient(`127.0.0.1:${grpcPort}`);
      const freshGrpcCheck = async (): Promise<number | undefined> => {
        const request = envoyCheckRequest({ headers: { 'user-agent': FRESH_AGENT } });
        const answer = (await upstreamCheck(client, request, FRESH_DEADLINE_MS)) as {
          status?: { code?: number };
        };
        return answer.status?.code;
      };
      // ~37,000 pipelined checks per connection, never reading an answer (the repro).
      const pipeline = Buffer.from(nginxRequest('/flood', 'flood').repeat(37_000), 'latin1');
      let flooding = true;
      const httpFlood = async (): Promise<void> => {
        while (flooding) {
          const socket = await openSocket(httpPort).catch(() => undefined);
          if (!socket) continue;
          socket.on('error', () => undefined);
          socket.write(pipeline);
          await closedWithin(socket, 1000);
          socket.destroy();
        }
      };
      // Per session: streams that never send their message (holding every slot), then streams
      // reset as soon as opened; the sessions stay open until the flood ends.
      const grpcFlood = async (): Promise<void> => {
        const body = getUpstreamCheckMethod().requestSerialize(envoyCheckRequest());
        const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
        frame.writeUInt32BE(body.length, 1);
        const session = connectHttp2(`http://127.0.0.1:${grpcPort}`);
        session.on('error', () => undefined);
        for (let i = 0; i < 32; i++) openCheckStream(session);
        for (let i = 0; i < 200 && !session.destroyed; i++) {
          const stream = openCheckStream(session);
          stream.write(frame);
          stream.close(http2Constants.NGHTTP2_CANCEL);
        }
        while (flooding) await new Promise(resolve => setTimeout(resolve, 100));
        session.destroy();
      };
      const floods = [
        ...Array.from({ length: 32 }, () => httpFlood()),
        ...Array.from({ length: 8 }, () => grpcFlood()),
      ];
      try {
        // During: fresh clients, one after another, each within its own deadline.
        for (let i = 0; i < 5; i++) {
          assert.equal(await freshNginxCheck(httpPort), 403, `NGINX check ${i} during the flood`);
          assert.equal(await freshGrpcCheck(), GRPC_PERMISSION_DENIED, `gRPC check ${i} during`);
          await new Promise(resolve => setTimeout(resolve, 500));
        }
      } finally {
        flooding = false;
        await Promise.all(floods);
      }
      assert.equal(proc.child.exitCode, null, `alive:\n${proc.stderr.slice(-2000)}`);
      assert.equal(await freshNginxCheck(httpPort), 403, 'NGINX check after the flood');
      assert.equal(await freshGrpcCheck(), GRPC_PERMISSION_DENIED, 'gRPC check after the flood');
      client.close();
      const status = readFileSync(`/proc/${proc.child.pid}/status`, 'utf8');
      const peakKiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
      assert.ok(peakKiB * 1024 < 300 * MiB, `peak RSS ${Math.round(peakKiB / 1024)} MiB`);
      assert.equal(await proc.stop(), 0);
      assert.doesNotMatch(proc.stderr, /Warning|FATAL|heap/, 'no warning or heap trouble');
    });
  });
});
