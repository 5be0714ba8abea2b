// Both ends of a test through a proxy: the protected application behind it, which records what
// reaches it, and the client in front of it (a plain HTTP GET, or a request head sent raw).

import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import {
  connect,
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
} from 'node:net';

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

/** What a raw request got back: the status, and the body as latin1 text. */
export interface RawAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * Sends `head` (request line and headers, CRLF-separated, no final blank line) byte for byte,
 * adding `Connection: close`, and reads the status and body. No client normalises it: `..`,
 * `%2f`, `\\`, `#`, absolute-form targets and control bytes reach the server as written. Rejects
 * with `no HTTP answer to …` when the connection closes without one.
 */
export function sendHead(url: string, head: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`${head}\r\nConnection: close\r\n\r\n`, 'latin1');
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(text)?.[1];
      if (status === undefined) reject(new Error(`no HTTP answer to ${head}`));
      else resolve({ status: Number(status), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

/** Sends `method target HTTP/1.1` with only a Host header, byte for byte (see sendHead). */
export function sendRaw(url: string, target: string, method = 'GET'): Promise<RawAnswer> {
  return sendHead(url, `${method} ${target} HTTP/1.1\r\nHost: ${new URL(url).hostname}`);
}

/** An application behind the proxy that records, in `seen`, each request reaching it. */
export interface RecordingApp {
  readonly seen: unknown[];
  /** Listens on a free loopback port; returns `127.0.0.1:<port>`. */
  start(): Promise<string>;
  close(): Promise<void>;
}

async function listenOnLoopback(server: TcpServer): Promise<string> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * The protected application: records the headers of every request that reaches it and answers
 * `app <url>`, with 502 on /app-error and 200 elsewhere.
 */
export class UpstreamApp implements RecordingApp {
  readonly seen: IncomingHttpHeaders[] = [];
  private readonly server: Server = createServer((req, res) => {
    this.seen.push(req.headers);
    const status = req.url === '/app-error' ? 502 : 200;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(`app ${req.url ?? ''}`);
  });

  start(): Promise<string> {
    return listenOnLoopback(this.server);
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
export class RawUpstreamApp implements RecordingApp {
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

  start(): Promise<string> {
    return listenOnLoopback(this.server);
  }

  async close(): Promise<void> {
    await new Promise(resolve => this.server.close(resolve));
  }
}
