// Starts the real server in-process on 127.0.0.1, ports 0, against a given RTI URL, with its
// JSON log lines captured for assertions.

import type pino from 'pino';
import { startApp, type RunningApp } from '../../src/app';
import { loadConfig, type AppConfig } from '../../src/config/load-config';
import { createLogger } from '../../src/observability/logger';
import {
  createUpstreamAuthorizationClient,
  upstreamCheck,
  type UpstreamAuthorizationClient,
} from './upstream-protos';
import type { CheckResponse__Output } from '../../src/generated/envoy/service/auth/v3/CheckResponse';

export const TEST_API_KEY = 'test-api-key-7f3a9c';

/**
 * Settings for a server on loopback with OS-chosen ports, asking the RTI at `rtiUrl`. The RTI
 * budget is roomy: on a busy machine a first RTI call can outlast the 100 ms default and turn a
 * verdict into a fail-open. Tests of timeouts set their own.
 */
export function loopbackSettings(rtiUrl: string, apiKey = TEST_API_KEY): Record<string, string> {
  return {
    CHEQ_API_KEY: apiKey,
    CHEQ_TAG_HASH: 'test-tag-hash',
    CHEQ_API_ENDPOINT: rtiUrl,
    CHEQ_TIMEOUT_MS: '2000',
    CHEQ_HOST: '127.0.0.1',
    CHEQ_GRPC_PORT: '0',
    CHEQ_HTTP_PORT: '0',
    CHEQ_METRICS_PORT: '0',
  };
}

export interface TestService {
  readonly app: RunningApp;
  /** The configuration it started with. */
  readonly config: AppConfig;
  readonly grpcAddress: string;
  /** Base URL of the HTTP listener, e.g. http://127.0.0.1:40123 */
  readonly httpUrl: string;
  readonly metricsUrl: string;
  readonly logs: Record<string, unknown>[];
  /** Check through a client built from the upstream Envoy protos. */
  check(request: unknown, deadlineMs?: number): Promise<CheckResponse__Output>;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The server in-process, once ready. Warm-up and preconnect are off unless `env` turns them on
 * (they have tests of their own; the process tests run them at their defaults).
 */
export async function startService(
  rtiUrl: string,
  env: Readonly<Record<string, string>> = {},
  {
    awaitReady = true,
    args = [],
    reloadable = false,
  }: {
    awaitReady?: boolean;
    /** Command-line flags, e.g. ['--config', file]. */
    args?: readonly string[];
    /** Reload on file changes (and app.reload()), as the server does. */
    reloadable?: boolean;
  } = {},
): Promise<TestService> {
  const sources = {
    env: {
      ...loopbackSettings(rtiUrl),
      CHEQ_LOG_LEVEL: 'debug',
      CHEQ_WARMUP_CHECKS: '0',
      CHEQ_RTI_PRECONNECT: '0',
      ...env,
    },
    args,
  };
  const config = loadConfig(sources);
  const logs: Record<string, unknown>[] = [];
  const sink: pino.DestinationStream = {
    write: (line: string) => {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
  const app = await startApp(
    config,
    createLogger(config.logLevel, sink),
    reloadable ? { load: () => loadConfig(sources) } : {},
  );
  if (awaitReady) await app.ready;
  const grpcAddress = `127.0.0.1:${app.grpcPort}`;
  const metricsUrl = `http://127.0.0.1:${app.metricsPort}`;
  let client: UpstreamAuthorizationClient | undefined;
  return {
    app,
    config,
    grpcAddress,
    httpUrl: `http://127.0.0.1:${app.httpPort}`,
    metricsUrl,
    logs,
    async check(request, deadlineMs = 5000) {
      client ??= createUpstreamAuthorizationClient(grpcAddress);
      return (await upstreamCheck(client, request, deadlineMs)) as CheckResponse__Output;
    },
    async metrics() {
      return (await fetch(`${metricsUrl}/metrics`)).text();
    },
    async close() {
      client?.close();
      await app.close();
    },
  };
}

/** Value of one sample in Prometheus text output, 0 when absent. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every(pair => line.includes(pair)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}
