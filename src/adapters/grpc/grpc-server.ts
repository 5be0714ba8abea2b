// The gRPC listener: ext_authz Check and grpc.health.v1 on one port, with server options for
// long-lived proxy connections (integration-contracts.md §5.2), plaintext or TLS/mTLS.

import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { GrpcTlsConfig } from '../../config/tls-files';
import type { Decide } from '../../core/decide';
import type { Logger } from '../../observability/logger';
import { addExtAuthzService } from './ext-authz-service';
import { AUTHORIZATION_SERVICE_NAME, loadExtAuthzPackage } from './load-protos';
import { createReloadingTlsCredentials, type ReloadingTlsCredentials } from './tls-credentials';

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly keepaliveTimeMs: number;
  readonly maxConnectionAgeMs: number;
  /** Checks one connection may have in flight (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** Undefined: plaintext. */
  readonly tls?: GrpcTlsConfig | undefined;
}

export interface RunningGrpcServer {
  readonly port: number;
  readonly security: 'plaintext' | 'tls' | 'mtls';
  /** Health reports SERVING from now on, unless markNotServing was called. */
  markServing(): void;
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
    'grpc.max_concurrent_streams': options.maxConcurrentStreams,
  });
  // NOT_SERVING until the owner says it is ready (after warm-up); checks are answered anyway.
  const health = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICES.map(service => [service, 'NOT_SERVING'])),
  );
  let draining = false;
  health.addToServer(server);
  addExtAuthzService(server, loadExtAuthzPackage(), decide, log);

  const tls = options.tls && createReloadingTlsCredentials(options.tls, log);
  const address = options.host.includes(':') ? `[${options.host}]` : options.host;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        `${address}:${options.port}`,
        tls?.credentials ?? grpc.ServerCredentials.createInsecure(),
        (err, boundPort) => (err ? reject(err) : resolve(boundPort)),
      );
    });
  } catch (err: unknown) {
    tls?.close();
    throw err;
  }
  logSecurity(options.tls, tls, log);

  return {
    port,
    security: tls?.mode ?? 'plaintext',
    markServing() {
      if (draining) return;
      for (const service of HEALTH_SERVICES) health.setStatus(service, 'SERVING');
    },
    markNotServing() {
      draining = true;
      for (const service of HEALTH_SERVICES) health.setStatus(service, 'NOT_SERVING');
    },
    shutdown(graceMs) {
      return new Promise<void>(resolve => {
        const timer = setTimeout(() => {
          log.warn({ graceMs }, 'grace period over; cancelling the checks still in flight');
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }).finally(() => tls?.close());
    },
  };
}

/** Whether the listener is encrypted, and with which files; never what they hold. */
function logSecurity(
  config: GrpcTlsConfig | undefined,
  tls: ReloadingTlsCredentials | undefined,
  log: Logger,
): void {
  if (config === undefined || tls === undefined) {
    log.info({ grpcTls: 'off' }, 'gRPC listener is plaintext (grpc_tls_cert_file not set)');
    return;
  }
  log.info(
    {
      grpcTls: tls.mode,
      certFile: config.certFile,
      keyFile: config.keyFile,
      clientCaFile: config.clientCaFile,
      certificate: tls.certificate(),
      reloadIntervalMs: config.reloadIntervalMs,
    },
    tls.mode === 'mtls'
      ? 'gRPC listener uses mTLS: clients must present a certificate signed by grpc_tls_client_ca_file'
      : 'gRPC listener uses TLS',
  );
}
