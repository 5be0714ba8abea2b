// The gRPC listener: ext_authz Check and grpc.health.v1 on one port, with server options for
// long-lived proxy connections (integration-contracts.md §5.2), plaintext or TLS/mTLS.

import { createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { GrpcTlsConfig } from '../../config/tls-files';
import type { Decide } from '../../core/decide';
import { LogThrottle } from '../../observability/log-throttle';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { addExtAuthzService } from './ext-authz-service';
import { AUTHORIZATION_SERVICE_NAME, loadExtAuthzPackage } from './load-protos';
import { createReloadingTlsCredentials, type ReloadingTlsCredentials } from './tls-credentials';
import { whenHttp2Preface } from './when-http2-preface';

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly keepaliveTimeMs: number;
  readonly maxConnectionAgeMs: number;
  /** Checks one connection may have in flight (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** Connections open at once; more are closed as they arrive. */
  readonly maxConnections: number;
  /** A plaintext connection must send its HTTP/2 preface within this, or it is closed. */
  readonly prefaceTimeoutMs: number;
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
/** At most one log line per interval about refused connections. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

export async function startGrpcServer(
  options: GrpcServerOptions,
  decide: Decide,
  metrics: Metrics,
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
  let listener: NetServer;
  try {
    const injector = server.createConnectionInjector(
      tls?.credentials ?? grpc.ServerCredentials.createInsecure(),
    );
    const inject = (socket: Socket): void => injector.injectConnection(socket);
    // TLS hides the preface from us; Node's TLS handshake timeout (120 s) bounds those.
    const gate = (socket: Socket): void =>
      whenHttp2Preface(socket, options.prefaceTimeoutMs, inject, reason =>
        metrics.rejectedRequests.inc({ transport: 'grpc', reason }),
      );
    listener = await listen(options, tls ? inject : gate);
  } catch (err: unknown) {
    tls?.close();
    throw err;
  }
  // Accept errors (EMFILE): logged, not thrown from an unhandled 'error' event.
  listener.on('error', (err: unknown) => log.error({ err }, 'gRPC listener error'));
  const refusals = new LogThrottle(REFUSAL_LOG_INTERVAL_MS);
  listener.on('drop', () => {
    metrics.rejectedRequests.inc({ transport: 'grpc', reason: 'too_many_connections' });
    const suppressed = refusals.admit('too_many_connections');
    if (suppressed === undefined) return;
    log.warn(
      { reason: 'too_many_connections', suppressed },
      `gRPC connection closed: ${options.maxConnections} (max_connections) already open`,
    );
  });
  logSecurity(options.tls, tls, log);

  return {
    port: (listener.address() as AddressInfo).port,
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
      listener.close();
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

/**
 * Our own listener, handing accepted sockets to grpc-js: grpc-js has no option to bound the
 * connections of a server it binds itself, net.Server has maxConnections.
 */
function listen(options: GrpcServerOptions, accept: (socket: Socket) => void): Promise<NetServer> {
  const listener = createServer(accept);
  listener.maxConnections = options.maxConnections;
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port, options.host, () => {
      listener.off('error', reject);
      resolve(listener);
    });
  });
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
