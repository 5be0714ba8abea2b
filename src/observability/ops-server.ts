// The metrics and health listener (METRICS_PORT): /metrics, /healthz (alive), /readyz (serving
// checks). Both stay OK while RTI is down: we fail open, so restarting us would not help. With an
// admin token, also the admin endpoint (admin-endpoint.ts).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_FORGET_PATH, type AdminHandler } from './admin-endpoint';
import type { Logger } from './logger';

/** Where /metrics comes from: a prom-client Registry, or the cluster aggregate of the workers'. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Why /readyz answers 503: its body's status. */
export type NotReadyStatus = 'warming up' | 'shutting down';

export interface RunningOpsServer {
  readonly port: number;
  /** /readyz answers 200 from now on. */
  markReady(): void;
  /** /readyz answers 503 from now on, saying why. */
  markNotReady(status?: NotReadyStatus): void;
  close(): Promise<void>;
}

export async function startOpsServer(
  host: string,
  port: number,
  registry: MetricsSource,
  log: Logger,
  initially: 'ready' | NotReadyStatus = 'ready',
  /** Undefined: no admin token, the admin path is not found like any other. */
  admin?: AdminHandler,
): Promise<RunningOpsServer> {
  let readiness = initially;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const reply = (status: number, contentType: string, body: string): void => {
      res.writeHead(status, {
        'content-type': contentType,
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (path === ADMIN_FORGET_PATH) {
      if (admin) admin(req, res);
      else reply(404, 'text/plain', 'not found\n');
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(405, 'text/plain', 'method not allowed\n');
    } else if (path === '/metrics') {
      registry.metrics().then(
        text => reply(200, registry.contentType, text),
        (err: unknown) => {
          log.error({ err }, 'collecting metrics failed');
          reply(500, 'text/plain', 'metrics collection failed\n');
        },
      );
    } else if (path === '/healthz') {
      reply(200, 'application/json', '{"status":"ok"}\n');
    } else if (path === '/readyz') {
      const body = `${JSON.stringify({ status: readiness })}\n`;
      reply(readiness === 'ready' ? 200 : 503, 'application/json', body);
    } else {
      reply(404, 'text/plain', 'not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    markReady() {
      readiness = 'ready';
    },
    markNotReady(status = 'shutting down') {
      readiness = status;
    },
    close() {
      return new Promise(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
