// The HTTP listener (CHEQ_HTTP_PORT): NGINX auth_request, Envoy HTTP ext_authz and forward-auth
// endpoints onto the decision core. Node's own http server: no framework on the hot path.

import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { NOT_FOUND_BODY } from '../../core/block-page';
import type { Cancellation } from '../../core/cancellation';
import type { Decide } from '../../core/decide';
import { LogThrottle } from '../../observability/log-throttle';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { envoyHttp, EXT_AUTHZ_PREFIX } from './envoy-http';
import { forwardAuth, FORWARD_AUTH_PATH } from './forward-auth';
import { isRejection, NO_STORE, writeAnswer, type HttpEndpoint } from './http-endpoint';
import { AUTH_REQUEST_PATH, nginxAuthRequest } from './nginx-auth-request';
import { nginxPage, PAGE_PATH } from './nginx-page';
import { PipelineGate } from './pipeline-gate';

/** Above Envoy's 60 KiB default request-header limit: Node's 16 KiB would answer 431. */
export const MAX_HEADER_BYTES = 96 * 1024;

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  /** Longer than the proxies' idle timeouts (NGINX keepalive_timeout 60 s), or races reset. */
  readonly keepAliveTimeoutMs: number;
  /** Complete request headers must arrive within this (slow-header attacks). */
  readonly headersTimeoutMs: number;
  /** Connections open at once; more are closed as they arrive. */
  readonly maxConnections: number;
}

export interface RunningHttpServer {
  readonly port: number;
  /**
   * Stops accepting, answers what is in flight (closing each connection after its answer),
   * and cuts what is left after graceMs.
   */
  close(graceMs: number): Promise<void>;
}

/** At most one log line per interval about refused connections or pipelines. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Node's parser errors → our answer and the metric reason. */
const CLIENT_ERRORS: Readonly<Record<string, readonly [number, string]>> = {
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'headers_timeout'], // closed unanswered (below)
  ECONNRESET: [400, 'connection_reset'],
};

/** The endpoint for a request target, and the original path it carries (Envoy HTTP mode). */
function route(url: string): { endpoint: HttpEndpoint; path: string } | undefined {
  const pathEnd = url.indexOf('?');
  const path = pathEnd < 0 ? url : url.slice(0, pathEnd);
  if (path === AUTH_REQUEST_PATH) return { endpoint: nginxAuthRequest, path: '' };
  if (path === FORWARD_AUTH_PATH) return { endpoint: forwardAuth, path: '' };
  if (path === PAGE_PATH) return { endpoint: nginxPage, path: '' };
  if (path === EXT_AUTHZ_PREFIX || path.startsWith(`${EXT_AUTHZ_PREFIX}/`)) {
    return { endpoint: envoyHttp, path: url.slice(EXT_AUTHZ_PREFIX.length) };
  }
  return undefined;
}

/**
 * The proxy gave up on a check: its connection or its answer closed before the answer was
 * complete ('close' also follows every answer). For an answer queued behind another (pipelined)
 * the connection is watched too: it gets no 'close' of its own when the connection closes.
 */
function cancellationOf(req: IncomingMessage, res: ServerResponse, queued: boolean): Cancellation {
  const socket = queued ? req.socket : undefined;
  const listeners: (() => void)[] = [];
  let closedEarly: boolean | undefined;
  const closed = (): void => {
    if (closedEarly !== undefined) return;
    closedEarly = !res.writableFinished;
    socket?.off('close', closed);
    res.off('close', closed);
    if (closedEarly) for (const listener of listeners) listener();
  };
  return {
    onCancel(listener) {
      if (closedEarly !== undefined) return void (closedEarly && listener());
      if (listeners.push(listener) > 1) return;
      if (res.closed) return closed();
      socket?.once('close', closed);
      res.once('close', closed);
    },
  };
}

export async function startHttpServer(
  options: HttpServerOptions,
  decide: Decide,
  metrics: Metrics,
  log: Logger,
): Promise<RunningHttpServer> {
  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      // Counted from a connection's opening, then from each request's first byte: bounds a
      // connection that never sends a request; idle keep-alive ones fall to keepAliveTimeout.
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: Math.max(30_000, options.headersTimeoutMs),
      // Node enforces those timeouts on this tick (30 s by default): check often enough.
      connectionsCheckingInterval: Math.min(1000, Math.ceil(options.headersTimeoutMs / 2)),
    },
    (req, res) => handle(req, res),
  );
  server.maxConnections = options.maxConnections;
  const refusals = new LogThrottle(REFUSAL_LOG_INTERVAL_MS);
  const refused = (reason: 'too_many_connections' | 'pipeline_overflow', message: string): void => {
    metrics.rejectedRequests.inc({ transport: 'http', reason });
    const suppressed = refusals.admit(reason);
    if (suppressed !== undefined) log.warn({ reason, suppressed }, message);
  };
  server.on('drop', () =>
    refused(
      'too_many_connections',
      `HTTP connection closed: ${options.maxConnections} (max_connections) already open`,
    ),
  );
  const gate = new PipelineGate(() =>
    refused('pipeline_overflow', 'HTTP connection closed: too many requests pipelined ahead'),
  );

  let closing = false;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (closing) res.setHeader('connection', 'close');
    const target = route(req.url ?? '/');
    if (!target) {
      metrics.rejectedRequests.inc({ transport: 'http', reason: 'not_found' });
      const headers: [string, string][] = [NO_STORE, ['content-type', NOT_FOUND_BODY.contentType]];
      writeAnswer(res, 404, headers, NOT_FOUND_BODY.text);
      return;
    }
    const { endpoint, path } = target;
    const fallback = (err: unknown): void => {
      log.error(
        { err, transport: endpoint.transport },
        'check failed outside the decision core; allowing',
      );
      if (!res.headersSent) writeAnswer(res, 200, []);
    };
    try {
      const attrs = endpoint.toAttributes(req, path);
      if (isRejection(attrs)) {
        metrics.rejectedRequests.inc({ transport: endpoint.transport, reason: attrs.reason });
        log.debug({ transport: endpoint.transport, reason: attrs.reason }, attrs.message);
        writeAnswer(res, attrs.status, [['content-type', 'text/plain']], `${attrs.message}\n`);
        return;
      }
      gate.admit(req.socket, queued =>
        decide(attrs, {
          cancellation: cancellationOf(req, res, queued),
          ...endpoint.decideOptions?.(req),
        })
          .then(decision => endpoint.respond(res, decision))
          .catch(fallback),
      );
    } catch (err: unknown) {
      fallback(err);
    }
  }

  // Requests Node rejects before they reach us (bad framing, headers too large or too slow):
  // answered, and counted. Node's headers clock starts when a connection opens, so one that
  // sends nothing or an unfinished head times out here too, and so does one answered below
  // whose peer never closes its side.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const [status, reason] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'bad_http_request'];
    metrics.rejectedRequests.inc({ transport: 'http', reason });
    log.debug({ reason, code: err.code }, 'HTTP request rejected before routing');
    // A timeout is destroyed unanswered, as NGINX closes on client_header_timeout: an end()
    // would leave the socket half-open, holding a max_connections slot, for as long as a peer
    // that never reads and never closes wants.
    const silent = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ECONNRESET';
    if (silent || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close(graceMs) {
      closing = true;
      return new Promise(resolve => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
