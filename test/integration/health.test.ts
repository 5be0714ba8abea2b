// Health as Kubernetes and Envoy see it: grpc.health.v1 on the gRPC port, /healthz and /readyz
// on the metrics port; SERVING while RTI is down; NOT_SERVING once shutdown starts.

import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti, verdict } from '../helpers/fake-rti-server';
import { startService, type TestService } from '../helpers/start-service';

interface HealthClient extends grpc.Client {
  Check(
    request: { service: string },
    callback: (err: grpc.ServiceError | null, response?: { status: string }) => void,
  ): void;
}

function healthClient(address: string): HealthClient {
  const definition = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: {
      health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => HealthClient } };
    };
  };
  return new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
}

function healthCheck(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, (err, response) =>
      err ? reject(err) : resolve(response?.status ?? ''),
    ),
  );
}

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
    service = await startService(rti.url, { SHUTDOWN_DELAY_MS: '300' });
    client.close();
    client = healthClient(service.grpcAddress);
    assert.equal(await healthCheck(client, ''), 'SERVING');
    rti.behaviour = () => verdict({}, 100);
    const inFlight = service.check(envoyCheckRequest());
    await rti.waitForCalls(1);
    const stopping = service.app.shutdown();
    assert.equal((await fetch(`${service.metricsUrl}/readyz`)).status, 503);
    assert.equal(await healthCheck(client, ''), 'NOT_SERVING');
    assert.equal((await inFlight).status?.code ?? 0, 0);
    assert.equal((await service.check(envoyCheckRequest())).status?.code ?? 0, 0, 'still serving');
    await stopping;
  });
});
