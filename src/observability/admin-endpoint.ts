// The admin endpoint on the metrics port, off unless admin_token is set:
// POST /admin/verdict-memory/forget with `Authorization: Bearer <admin_token>` and a small JSON
// body (forget-request.ts). The token is compared in constant time and never logged.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  parseForgetRequest,
  type ForgetOutcome,
  type ForgetRequest,
} from '../memory/forget-request';
import { LogThrottle } from './log-throttle';
import type { Logger } from './logger';

export const ADMIN_FORGET_PATH = '/admin/verdict-memory/forget';
/** Largest body read: every valid request fits well within it. */
export const MAX_ADMIN_BODY_BYTES = 4 * 1024;
/** Refused tokens are logged at most once per this: someone guessing must not flood the logs. */
const REFUSED_LOG_INTERVAL_MS = 60_000;

/** Where the memory's changes reach besides this process: said in every answer. */
export type MemorySharing = 'redis' | 'cluster' | 'local';

export interface AdminEndpointOptions {
  readonly token: string;
  /** Carries a request out: on this process's memory, or on every cluster worker's. */
  readonly forget: (request: ForgetRequest) => Promise<ForgetOutcome>;
  readonly shared: MemorySharing;
  readonly log: Logger;
}

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The handler of ADMIN_FORGET_PATH. */
export function adminEndpoint(options: AdminEndpointOptions): AdminHandler {
  const { forget, shared, log } = options;
  // Digests are compared, so that both sides have the same length whatever the client sends.
  const expected = digest(options.token);
  const throttle = new LogThrottle(REFUSED_LOG_INTERVAL_MS);
  return (req, res) => {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return answer(req, res, 405, { error: 'method not allowed: use POST' });
    }
    if (!authorized(req.headers.authorization, expected)) {
      const suppressed = throttle.admit('refused');
      if (suppressed !== undefined) {
        log.warn(
          { peer: req.socket.remoteAddress, suppressed },
          'admin endpoint: refused a request without a valid token',
        );
      }
      res.setHeader('www-authenticate', 'Bearer');
      return answer(req, res, 401, { error: 'a valid admin token is required' });
    }
    readBody(req, MAX_ADMIN_BODY_BYTES)
      .then(async body => {
        if (body === 'aborted') return;
        if (body === 'too large') {
          return answer(req, res, 400, { error: `body larger than ${MAX_ADMIN_BODY_BYTES} bytes` });
        }
        const request = parseForgetRequest(parseJson(body.text));
        if ('refused' in request) return answer(req, res, 400, { error: request.refused });
        const outcome = await forget(request);
        if ('refused' in outcome) return answer(req, res, 400, { error: outcome.refused });
        log.info(
          {
            peer: req.socket.remoteAddress,
            kind: kindOf(request),
            site: request.site ?? '*',
            forgotten: outcome.forgotten,
            shared,
          },
          'verdict memory: an operator forgot remembered blocks',
        );
        answer(req, res, 200, { forgotten: outcome.forgotten, shared });
      })
      .catch((err: unknown) => {
        log.error({ err }, 'admin forget failed');
        answer(req, res, 503, { error: 'forgetting failed; try again' });
      });
  };
}

/** Which request it was, for the log line: never the address or ids themselves. */
function kindOf({ target }: ForgetRequest): string {
  if (target.kind === 'ip') return target.userAgent === undefined ? 'ip' : 'ip_user_agent';
  return target.kind;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), expected);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The body as text, unless it passes `maxBytes` (the rest is not read) or the client left. */
function readBody(
  req: IncomingMessage,
  maxBytes: number,
): Promise<{ readonly text: string } | 'too large' | 'aborted'> {
  return new Promise(resolve => {
    if (Number(req.headers['content-length'] ?? 0) > maxBytes) return resolve('too large');
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        return resolve('too large');
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8') }));
    // Settles nothing once 'end' has: a promise resolves once.
    req.once('close', () => resolve('aborted'));
    req.once('error', () => resolve('aborted'));
  });
}

function answer(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: Record<string, unknown>,
): void {
  const text = `${JSON.stringify(body)}\n`;
  // A body left unread (refused before or part way) is not drained: the connection closes.
  const unread = !req.complete;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(unread ? { connection: 'close' } : {}),
  });
  res.end(text);
}
