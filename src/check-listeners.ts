// The listeners that take checks, gRPC (with health) and HTTP, over one decision service: the
// server's, or warm-up's throwaway one.

import { startGrpcServer } from './adapters/grpc/grpc-server';
import { startHttpServer } from './adapters/http/http-server';
import type { AppConfig } from './config/load-config';
import type { DecisionService } from './decision-service';
import type { Logger } from './observability/logger';

export interface CheckListeners {
  readonly grpcPort: number;
  readonly grpcSecurity: string;
  readonly httpPort: number;
  /** gRPC health reports SERVING from now on (unless markNotServing was called). */
  markServing(): void;
  /** gRPC health reports NOT_SERVING from now on. */
  markNotServing(): void;
  /** Stops accepting, answers the checks in flight within shutdownGraceMs, cuts the rest. */
  close(): Promise<void>;
}

export async function startCheckListeners(
  server: AppConfig['server'],
  service: Pick<DecisionService, 'decide' | 'metrics'>,
  log: Logger,
): Promise<CheckListeners> {
  const { decide, metrics } = service;
  const grpc = await startGrpcServer(
    {
      host: server.host,
      port: server.grpcPort,
      keepaliveTimeMs: server.grpcKeepaliveTimeMs,
      maxConnectionAgeMs: server.grpcMaxConnectionAgeMs,
      maxConcurrentStreams: server.grpcMaxConcurrentStreams,
      maxConnections: server.maxConnections,
      prefaceTimeoutMs: server.httpHeadersTimeoutMs,
      tls: server.grpcTls,
    },
    decide,
    metrics,
    log,
  );
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    http = await startHttpServer(
      {
        host: server.host,
        port: server.httpPort,
        keepAliveTimeoutMs: server.httpKeepAliveTimeoutMs,
        headersTimeoutMs: server.httpHeadersTimeoutMs,
        maxConnections: server.maxConnections,
      },
      decide,
      metrics,
      log,
    );
  } catch (err: unknown) {
    // The HTTP port was taken: the gRPC listener must not keep the process alive.
    await grpc.shutdown(0);
    throw err;
  }
  const { shutdownGraceMs } = server;
  return {
    grpcPort: grpc.port,
    grpcSecurity: grpc.security,
    httpPort: http.port,
    markServing: () => grpc.markServing(),
    markNotServing: () => grpc.markNotServing(),
    close: async () => {
      await Promise.all([grpc.shutdown(shutdownGraceMs), http.close(shutdownGraceMs)]);
    },
  };
}
