// Both ends of a test through NGINX: the protected application behind it, which records what
// reaches it, and a plain HTTP GET for the client in front of it.

import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a GET got back: status, headers and the whole body. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** GETs `url` with `headers` and reads the whole answer. */
export function get(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, res => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The protected application: records the headers of every request that reaches it and answers
 * `app <url>`, with 502 on /app-error and 200 elsewhere.
 */
export class UpstreamApp {
  readonly seen: IncomingHttpHeaders[] = [];
  private readonly server: Server = createServer((req, res) => {
    this.seen.push(req.headers);
    const status = req.url === '/app-error' ? 502 : 200;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(`app ${req.url ?? ''}`);
  });

  /** Listens on a free loopback port; returns `127.0.0.1:<port>`. */
  async start(): Promise<string> {
    await new Promise<void>(resolve => this.server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise(resolve => this.server.close(resolve));
  }
}
