// A fresh server process, fed a steady rate of gRPC checks from the moment it reports ready,
// answers them from RTI verdicts: it warmed up before ready, and its circuit breaker does not
// take a cold start's slow first calls for an RTI outage.

import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { join } from 'node:path';
import { PROTECTED_REASONS } from '../../src/core/protected-reasons';
import { MAIN, startServerProcess, type ServerProcess } from '../helpers/server-process';
import { loopbackSettings, metricValue } from '../helpers/start-service';
import {
  createUpstreamAuthorizationClient,
  upstreamCheck,
  type UpstreamAuthorizationClient,
} from '../helpers/upstream-protos';

const RATE_PER_SECOND = 600;
const SECONDS = 4;

describe('cold start (integration, server process)', function () {
  this.timeout(60_000);
  let rti: ServerProcess | undefined;
  let proc: ServerProcess | undefined;
  let client: UpstreamAuthorizationClient | undefined;

  afterEach(async () => {
    client?.close();
    for (const child of [proc, rti]) {
      await child?.stop('SIGKILL');
    }
  });

  it(`answers ${RATE_PER_SECOND} checks/s from RTI verdicts from the moment it is ready`, async () => {
    // The RTI stand-in (the built-in emulator) in a process of its own: the load generator here
    // must not slow down RTI's answers.
    const emulator = join(MAIN, '..', 'emulator', 'rti-emulator.js');
    rti = startServerProcess([], {}, [
      '-e',
      `require(${JSON.stringify(emulator)}).startRtiEmulator().then(e => console.log(JSON.stringify({ url: e.url })))`,
    ]);
    const { url } = await rti.waitForLine(l => typeof l['url'] === 'string');
    // At the shipped RTI budget (100 ms), not the tests' roomy one.
    const started = startServerProcess([], {
      ...loopbackSettings(String(url)),
      CHEQ_TIMEOUT_MS: '100',
    });
    proc = started;
    const line = await started.waitForLine(l => l['msg'] === 'cheq-rti-authz listening', 30_000);
    const metricsUrl = `http://127.0.0.1:${String(line['metricsPort'])}`;
    while ((await fetch(`${metricsUrl}/readyz`)).status !== 200) await sleep(20);

    client = createUpstreamAuthorizationClient(`127.0.0.1:${String(line['grpcPort'])}`);
    const grpc = client;
    /** Whether each check was answered before its deadline. */
    const answers: Promise<boolean>[] = [];
    const begin = Date.now();
    for (let tick = 1; tick <= SECONDS * 100; tick++) {
      for (let i = 0; i < RATE_PER_SECOND / 100; i++) {
        answers.push(
          upstreamCheck(grpc, envoyCheckRequest(), 250).then(
            () => true,
            () => false,
          ),
        );
      }
      await sleep(begin + tick * 10 - Date.now());
    }
    // A check the proxy stops waiting for is allowed by the proxy's own fail-open: unprotected.
    const late = (await Promise.all(answers)).filter(answered => !answered).length;

    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    const decided = (reason: string): number =>
      metricValue(metrics, 'cheq_authz_decisions_total', { transport: 'grpc', reason });
    // Answered from an RTI verdict: the protected reasons, as the alert rules and the bench count.
    const verdicts = PROTECTED_REASONS.reduce((sum, reason) => sum + decided(reason), 0);
    const failedOpen = decided('fail_open');
    const byCause = metrics
      .split('\n')
      .filter(l => l.startsWith('cheq_authz_fail_open_total{') && !l.endsWith(' 0'))
      .join('; ');
    assert.equal(late, 0, `${late} checks not answered within the 250 ms deadline: ${byCause}`);
    assert.equal(verdicts + failedOpen, answers.length, 'every check decided');
    assert.equal(
      metricValue(metrics, 'cheq_authz_fail_open_total', { cause: 'rti_circuit_open' }),
      0,
      byCause,
    );
    assert.ok(verdicts / answers.length >= 0.99, `${verdicts} of ${answers.length}: ${byCause}`);
  });
});
