// Both ends of a test through NGINX: the protected application behind it, which records what
// reaches it, and a plain HTTP GET for the client in front of it.

import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';

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
 * Sends `method target HTTP/1.1` byte for byte (no client normalises the target: `..`, `%2f`,
 * `\\`, `#` and absolute-form reach the proxy as written) and reads the status and body.
 */
export function sendRaw(
  url: string,
  target: string,
  method = 'GET',
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `${method} ${target} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`,
        'latin1',
      );
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(text)?.[1];
      if (status === undefined) reject(new Error(`no HTTP answer to ${method} ${target}`));
      else resolve({ status: Number(status), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
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

/** One request as it reached a RawUpstreamApp. */
export interface SeenRequest {
  /** `METHOD target`, as the proxy sent it. */
  readonly requestLine: string;
  /** The x-cheq-decision header the proxy added, if any. */
  readonly decision: string | undefined;
}

/**
 * A protected application that takes any method and target (Node's HTTP parser refuses methods
 * such as `GET_`, which NGINX passes on): records each request line, answers 200 and closes.
 */
export class RawUpstreamApp {
  readonly seen: SeenRequest[] = [];
  private readonly server = createTcpServer(socket => {
    let head = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      head += chunk;
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = head.slice(0, end).split('\r\n');
      const decision = lines.find(line => /^x-cheq-decision:/i.test(line));
      this.seen.push({
        requestLine: (lines[0] ?? '').replace(/ HTTP\/1\.[01]$/, ''),
        decision: decision?.slice(decision.indexOf(':') + 1).trim(),
      });
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\napp');
    });
    socket.on('error', () => socket.destroy());
  });

  /** Listens on a free loopback port; returns `127.0.0.1:<port>`. */
  async start(): Promise<string> {
    await new Promise<void>(resolve => this.server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise(resolve => this.server.close(resolve));
  }
}
