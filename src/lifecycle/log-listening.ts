// The line that says a server is ready and where: what operators and the tests wait for.

import type { AppConfig } from '../config/load-config';
import type { Logger } from '../observability/logger';
import { VERSION } from '../version';

export interface ListeningAt {
  /** Worker processes (cluster mode only). */
  readonly workers?: number;
  readonly grpcPort: number;
  readonly grpcSecurity: string;
  readonly httpPort: number;
  readonly metricsPort: number;
}

export function logListening(log: Logger, config: AppConfig, at: ListeningAt): void {
  log.info(
    {
      version: VERSION,
      mode: config.core.mode,
      ...at,
      rtiEndpoint: config.rti.endpoint.origin,
      timeoutMs: config.core.timeoutMs,
    },
    'cheq-rti-authz listening',
  );
}
