// The gRPC listener: ext_authz Check and grpc.health.v1 on one port, with server options for
// long-lived proxy connections (integration-contracts.md §5.2).

import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Decide } from '../../core/decide';
import type { Logger } from '../../observability/logger';
import { addExtAuthzService } from './ext-authz-service';
import { AUTHORIZATION_SERVICE_NAME, loadExtAuthzPackage } from './load-protos';

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly keepaliveTimeMs: number;
  readonly maxConnectionAgeMs: number;
}

export interface RunningGrpcServer {
  readonly port: number;
  /** Health reports NOT_SERVING from now on (before draining). */
  markNotServing(): void;
  /** Stops accepting, lets in-flight checks finish within graceMs, then cuts the rest. */
  shutdown(graceMs: number): Promise<void>;
}

const HEALTH_SERVICES = ['', AUTHORIZATION_SERVICE_NAME];

export async function startGrpcServer(
  options: GrpcServerOptions,
  decide: Decide,
  log: Logger,
): Promise<RunningGrpcServer> {
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': options.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.max_connection_age_ms': options.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': 30_000,
    'grpc.enable_channelz': 0,
  });
  const health = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICES.map(service => [service, 'SERVING'])),
  );
  health.addToServer(server);
  addExtAuthzService(server, loadExtAuthzPackage(), decide, log);

  const address = options.host.includes(':') ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${address}:${options.port}`,
      grpc.ServerCredentials.createInsecure(),
      (err, boundPort) => (err ? reject(err) : resolve(boundPort)),
    );
  });

  return {
    port,
    markNotServing() {
      for (const service of HEALTH_SERVICES) health.setStatus(service, 'NOT_SERVING');
    },
    shutdown(graceMs) {
      return new Promise(resolve => {
        const timer = setTimeout(() => {
          log.warn({ graceMs }, 'grace period over; cancelling the checks still in flight');
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
