// The load test of the slow tier (npm run test:slow; about 30 s): the built server in its own process, a mix of allow, deny,
// redirect and RTI failures over gRPC and the NGINX endpoint, every answer checked against
// the outcome its case must produce. Then SIGTERM under load. Loopback only, bounded in
// count and time. The longer soak is `npm run soak` (test/slow/soak.ts).

import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti } from '../helpers/fake-rti-server';
import {
  LoadRun,
  formatResult,
  installStandIn,
  loadServerEnv,
  serverDecisions,
  serverFailOpens,
  startLoadServer,
  withWeights,
  TIMER_EARLY_MS,
  LOAD_CASES,
  type LoadCase,
  type LoadResult,
  type LoadServer,
} from '../helpers/load';
import { createUpstreamAuthorizationClient, upstreamCheck } from '../helpers/upstream-protos';

/**
 * RTI budget of the server under test: far above the stand-in's answer time (p99 under 100
 * ms at saturation on a busy box), so only the hanging case times out. A verdict failed open
 * before the timeout is wrong; after it, late (see MAX_LATE_SHARE).
 */
const TIMEOUT_MS = 500;
/**
 * Checks whose RTI verdict was failed open after the full timeout (the stand-in, sharing the
 * driver's process, starved on a busy box) are "late", not wrong, up to this share. None on
 * an idle box; the 5-minute soak saw 9 in 90 000 while other suites hogged both cores.
 */
const MAX_LATE_SHARE = 0.01;
const GRACE_MS = 3000;
/** Report the tables (always printed in CI logs; they are short). */
const report = (title: string, result: LoadResult): void => {
  console.log(`\n  ${title}\n${formatResult(result).replace(/^/gm, '    ')}`);
};

describe('load: mixed verdicts at high concurrency over gRPC and HTTP', function () {
  this.timeout(30_000);
  let rti: FakeRti;

  before(async () => {
    rti = await FakeRti.start();
  });
  after(async () => {
    await rti.close();
  });

  describe('a running server', () => {
    let server: LoadServer;
    let rssAtStart: number | undefined;

    before(async () => {
      server = await startLoadServer(loadServerEnv(rti.url, TIMEOUT_MS));
      rssAtStart = server.rssBytes();
    });
    after(async () => {
      await server?.stop(); // undefined when before failed
    });

    it('answers every check of a saturating burst right, and counts each one', async () => {
      const standIn = installStandIn(rti, LOAD_CASES);
      const beforeText = await server.metrics();
      const before = {
        decisions: serverDecisions(beforeText),
        failOpens: serverFailOpens(beforeText),
      };
      const result = await new LoadRun(server, {
        concurrency: 64,
        maxRequests: 3000,
        durationMs: 20_000,
        grpcChannels: 4,
        httpConnections: 64,
        seed: 7,
        rtiTimeoutMs: TIMEOUT_MS,
      }).done;
      report(
        `burst: concurrency 64, server RSS ${mb(rssAtStart)} → ${mb(server.rssBytes())}`,
        result,
      );

      assert.equal(result.errors, 0, `transport errors: ${JSON.stringify(result.errorKinds)}`);
      assert.equal(result.wrong, 0, `wrong answers:\n${result.wrongSamples.join('\n')}`);
      assertFewLate(result);
      assert.equal(result.sent, 3000, 'the burst is bounded by count, not cut by its duration');
      assertServerHealthy(server);

      // One RTI call per check, each with its own token.
      assert.equal(standIn.unknown, 0);
      for (const [name, stats] of Object.entries(result.byCase)) {
        assert.equal(standIn.calls.get(name), stats.count, `RTI calls of ${name}`);
      }
      // The server's own counts agree with what was sent, per transport, action and reason.
      const text = await server.metrics();
      assert.deepEqual(delta(serverDecisions(text), before.decisions), sorted(result.decisions));
      assertFailOpens(delta(serverFailOpens(text), before.failOpens), result);
      // Hanging cases waited for the timeout.
      assert.ok((result.byCase['rti-hang']?.minMs ?? 0) >= TIMEOUT_MS - TIMER_EARLY_MS);
    });

    // Latency (p99) is the bench's to measure (npm run bench): bounds in seconds fail on a busy
    // machine, so this test checks what a steady rate must get right whatever the machine.
    it('answers every check of a steady 400 checks/s right; hung ones only after the timeout', async () => {
      // More hanging cases than in the burst (240 instead of ~60), so their p99 is not their max.
      const cases = withWeights(LOAD_CASES, { valid: 31, 'rti-hang': 15 });
      const standIn = installStandIn(rti, cases);
      const result = await new LoadRun(server, {
        cases,
        concurrency: 64,
        maxRequests: 1600,
        durationMs: 8000,
        ratePerSecond: 400,
        grpcChannels: 4,
        httpConnections: 64,
        seed: 11,
        rtiTimeoutMs: TIMEOUT_MS,
      }).done;
      report(`steady 400/s: server RSS ${mb(server.rssBytes())}`, result);

      assert.equal(result.errors, 0, `transport errors: ${JSON.stringify(result.errorKinds)}`);
      assert.equal(result.wrong, 0, `wrong answers:\n${result.wrongSamples.join('\n')}`);
      assertFewLate(result);
      assert.equal(standIn.unknown, 0);
      for (const [name, stats] of Object.entries(result.byCase)) {
        const hangs = cases.find(c => c.name === name)?.hangs;
        assert.equal(standIn.calls.get(name), stats.count, `RTI calls of ${name}`);
        if (hangs) {
          assert.ok(
            stats.minMs >= TIMEOUT_MS - TIMER_EARLY_MS,
            `${name} answered ${stats.minMs} ms after, before the timeout`,
          );
        }
      }
      assertServerHealthy(server);
      // A sanity bound, not a leak check (that is the soak's job): ~80 MB idle, ~140 MB here.
      assert.ok((server.rssBytes() ?? 0) < 400 * 2 ** 20, `RSS ${mb(server.rssBytes())}`);
    });

    it('would notice a wrong answer, an answer meant for another check, or a late one', async () => {
      const valid = LOAD_CASES.find(c => c.name === 'valid') as LoadCase;
      const cases: LoadCase[] = [
        {
          ...valid,
          name: 'lie',
          expect: { ...valid.expect, action: 'deny', reason: 'threat_block' },
        },
        { ...valid, name: 'swapped', rti: id => valid.rti(id + 1) },
        { ...valid, name: 'early', rti: () => ({ kind: 'raw', status: 503, body: '' }) },
        { ...valid, name: 'slow', rti: () => ({ kind: 'hang' }) },
      ];
      installStandIn(rti, cases);
      const result = await new LoadRun(server, {
        cases,
        concurrency: 16,
        maxRequests: 200,
        durationMs: 5000,
        rtiTimeoutMs: TIMEOUT_MS,
      }).done;
      const wrong = result.wrongSamples.join('\n');
      assert.equal(result.errors, 0);
      assert.equal(result.right, 0);
      assert.equal(result.late, result.byCase['slow']?.count);
      assert.equal(result.wrong, 200 - result.late);
      assert.match(wrong, /lie: action allow \(HTTP 200\), expected deny/);
      assert.match(wrong, /swapped: cookie _cheq_rti=load-\d+/);
      assert.match(wrong, /early: reason fail_open, expected valid/);
      assert.match(result.lateSamples[0] ?? '', /slow: failed open after \d+ ms/);
    });
  });

  describe('shutdown under load', () => {
    it('answers every in-flight check on SIGTERM, refuses new connections, exits 0 in the grace period', async () => {
      // Verdicts take 100 ms, so a good share of the 64 workers' checks is in flight at any time.
      const standIn = installStandIn(rti, LOAD_CASES, { verdictDelayMs: 100, recordSeen: true });
      const server = await startLoadServer({
        ...loadServerEnv(rti.url, TIMEOUT_MS),
        CHEQ_SHUTDOWN_DELAY_MS: '0',
        CHEQ_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      });
      let exitedAt: number | undefined;
      void server.exited.then(() => (exitedAt = Date.now()));
      const run = new LoadRun(
        server,
        {
          concurrency: 64,
          maxRequests: 50_000,
          durationMs: 10_000,
          grpcChannels: 4,
          httpConnections: 64,
          seed: 13,
          rtiTimeoutMs: TIMEOUT_MS,
          // A server that has gone refuses at once: do not spin.
          errorBackoffMs: 50,
        },
        true,
      );
      try {
        await new Promise(resolve => setTimeout(resolve, 1000));
        const receivedBeforeSignal = [...run.inFlight.values()].filter(r => standIn.seen.has(r.id));
        const sentBeforeSignal = new Set(run.inFlight.keys());
        const signalAt = Date.now();
        server.child.kill('SIGTERM');

        // New connections are refused while the in-flight checks are still being answered.
        await Promise.all([
          waitUntilRefused(server.grpcPort, 1000),
          waitUntilRefused(server.httpPort, 1000),
        ]);
        const refusedAt = Date.now();
        const stillInFlight = receivedBeforeSignal.filter(r => run.inFlight.has(r.id)).length;
        const late = createUpstreamAuthorizationClient(server.grpcAddress);
        await assert.rejects(upstreamCheck(late, envoyCheckRequest(), 1000), /UNAVAILABLE/);
        late.close();
        await assert.rejects(fetch(`${server.httpUrl}/api/authz/auth-request`), /fetch failed/);

        const code = await server.exited;
        const exitMs = (exitedAt ?? Date.now()) - signalAt;
        run.stop();
        const result = await run.done;
        report(
          `SIGTERM after 1 s of load: ${receivedBeforeSignal.length} checks in flight, ` +
            `refused new connections after ${refusedAt - signalAt} ms (${stillInFlight} of them ` +
            `still in flight), exit ${String(code)} after ${exitMs} ms`,
          result,
        );

        assert.equal(code, 0, server.stderr());
        assert.ok(exitMs < GRACE_MS + 1000, `exit took ${exitMs} ms`);
        assert.ok(receivedBeforeSignal.length >= 16, 'enough checks in flight to mean something');
        assert.ok(stillInFlight > 0, 'refusing while draining, not after exiting');
        assert.equal(result.wrong, 0, `wrong answers:\n${result.wrongSamples.join('\n')}`);
        assert.deepEqual(server.errorLines, [], 'error-level log lines');
        // Every check the server received (its RTI call happened), before or after the signal,
        // was answered right; only checks it never received may fail, and only by connection.
        const byId = new Map((result.results ?? []).map(r => [r.id, r]));
        const answered = (id: number): boolean =>
          byId.get(id)?.outcome === 'right' || byId.get(id)?.outcome === 'late';
        for (const { id } of receivedBeforeSignal) {
          assert.ok(answered(id), `in-flight check #${id}: ${byId.get(id)?.detail}`);
        }
        for (const id of standIn.seen) {
          assert.ok(answered(id), `received check #${id}: ${byId.get(id)?.detail}`);
        }
        assertFewLate(result);
        for (const kind of Object.keys(result.errorKinds)) {
          assert.match(kind, /UNAVAILABLE|ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET/, kind);
        }
        const lost = (result.results ?? []).filter(
          r => sentBeforeSignal.has(r.id) && r.outcome === 'error',
        );
        if (lost.length > 0) {
          console.log(`    ${lost.length} checks sent before the signal but never received`);
        }
      } finally {
        run.stop();
        await run.done.catch(() => undefined);
        server.child.kill('SIGKILL');
      }
    });
  });
});

function assertServerHealthy(server: LoadServer): void {
  assert.equal(server.child.exitCode, null, `server exited:\n${server.stderr()}`);
  assert.deepEqual(server.errorLines, [], 'error-level log lines');
}

function assertFewLate(result: LoadResult): void {
  assert.ok(
    result.late <= result.sent * MAX_LATE_SHARE,
    `${result.late} checks failed open after the RTI timeout:\n${result.lateSamples.join('\n')}`,
  );
}

/**
 * The server's fail-opens by cause equal the driver's, per transport. An RTI failure case
 * answered after the timeout may have been counted as rti_timeout instead of its own cause:
 * then the totals still agree, the causes within that many.
 */
function assertFailOpens(server: [string, number][], result: LoadResult): void {
  const driver = sorted(result.failOpens);
  if (result.slowFailOpens === 0) {
    assert.deepEqual(server, driver);
    return;
  }
  const total = (rows: [string, number][], transport: string): number =>
    rows.filter(([key]) => key.startsWith(`${transport}/`)).reduce((sum, [, n]) => sum + n, 0);
  for (const transport of ['grpc', 'nginx']) {
    assert.equal(total(server, transport), total(driver, transport), `${transport} fail-opens`);
  }
  const serverMap = new Map(server);
  const driverMap = new Map(driver);
  let moved = 0;
  for (const key of new Set([...serverMap.keys(), ...driverMap.keys()])) {
    moved += Math.abs((serverMap.get(key) ?? 0) - (driverMap.get(key) ?? 0));
  }
  assert.ok(moved <= 2 * result.slowFailOpens, `fail-open causes: ${JSON.stringify(server)}`);
}

function delta(after: Map<string, number>, before: Map<string, number>): [string, number][] {
  return sorted(new Map([...after].map(([key, n]) => [key, n - (before.get(key) ?? 0)])));
}

function sorted(map: Map<string, number>): [string, number][] {
  return [...map].filter(([, n]) => n !== 0).sort(([a], [b]) => a.localeCompare(b));
}

function mb(bytes: number | undefined): string {
  return bytes === undefined ? '?' : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Resolves once a TCP connection to the port is refused; rejects after timeoutMs. */
async function waitUntilRefused(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const refused = await new Promise<boolean>(resolve => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return;
    if (Date.now() > until) throw new Error(`port ${port} still accepts after ${timeoutMs} ms`);
    await new Promise(resolve => setTimeout(resolve, 5));
  }
}
