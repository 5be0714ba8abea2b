// Health as Kubernetes and Envoy see it: grpc.health.v1 on the gRPC port, /healthz and /readyz
// on the metrics port; SERVING while RTI is down; NOT_SERVING once shutdown starts.

import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { healthCheck, healthClient, type HealthClient } from '../helpers/grpc-health';
import { startService, type TestService } from '../helpers/start-service';

describe('health (integration)', () => {
  let rti: FakeRti;
  let service: TestService;
  let client: HealthClient;

  beforeEach(async () => {
    rti = await FakeRti.start();
    service = await startService(rti.url);
    client = healthClient(service.grpcAddress);
  });
  afterEach(async () => {
    client.close();
    await service.close();
    await rti.close();
  });

  it('reports SERVING for the server and the Authorization service, NOT_FOUND for others', async () => {
    assert.equal(await healthCheck(client, ''), 'SERVING');
    assert.equal(await healthCheck(client, 'envoy.service.auth.v3.Authorization'), 'SERVING');
    await assert.rejects(
      healthCheck(client, 'nope'),
      (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND,
    );
    assert.equal((await fetch(`${service.metricsUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${service.metricsUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${service.metricsUrl}/nope`)).status, 404);
  });

  it('stays SERVING and ready while RTI is down (we fail open)', async () => {
    await rti.close();
    await service.check(envoyCheckRequest());
    assert.equal(await healthCheck(client, ''), 'SERVING');
    assert.equal((await fetch(`${service.metricsUrl}/readyz`)).status, 200);
    rti = await FakeRti.start();
  });

  it('turns NOT_SERVING and unready for the shutdown delay, still answering checks', async () => {
    await service.close();
    service = await startService(rti.url, { CHEQ_SHUTDOWN_DELAY_MS: '300' });
    client.close();
    client = healthClient(service.grpcAddress);
    assert.equal(await healthCheck(client, ''), 'SERVING');
    rti.behaviour = () => verdict({}, 100);
    const inFlight = service.check(envoyCheckRequest());
    await rti.waitForCalls(1);
    const stopping = service.app.close();
    assert.equal((await fetch(`${service.metricsUrl}/readyz`)).status, 503);
    assert.equal(await healthCheck(client, ''), 'NOT_SERVING');
    assert.equal((await inFlight).status?.code ?? 0, 0);
    assert.equal((await service.check(envoyCheckRequest())).status?.code ?? 0, 0, 'still serving');
    await stopping;
  });
});
