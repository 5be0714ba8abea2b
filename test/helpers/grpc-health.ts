// A grpc.health.v1 client built from grpc-health-check's own proto, as Kubernetes and Envoy probe.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

export interface HealthClient extends grpc.Client {
  Check(
    request: { service: string },
    callback: (err: grpc.ServiceError | null, response?: { status: string }) => void,
  ): void;
}

export function healthClient(address: string): HealthClient {
  const definition = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: {
      health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => HealthClient } };
    };
  };
  return new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
}

/** The status a client reports for `service` ("" = the whole server). */
export function healthCheck(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, (err, response) =>
      err ? reject(err) : resolve(response?.status ?? ''),
    ),
  );
}

/** One check on a client of its own, closed afterwards. */
export function healthStatus(address: string, service = ''): Promise<string> {
  const client = healthClient(address);
  return healthCheck(client, service).finally(() => client.close());
}
