// The demo's protected site: a tiny web server that asks our forward-auth endpoint about every
// request, as Caddy's forward_auth and Traefik's ForwardAuth do (the original headers plus
// X-Forwarded-*, no body), serves its page on a 2xx and passes any other answer to the browser
// as it is (status, headers, body): the block page, the challenge page, the verify redirect.
// /_demo/verdict is the demo's own control, not protected, so a blocked visitor can leave.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request, type Dispatcher } from 'undici';

/** The demo's control: `?v=` sets the verdict cookie the emulator obeys, then back to /. */
export const VERDICT_PATH = '/_demo/verdict';
/** The cookie the RTI emulator reads its verdict from (docs/development.md). */
export const DEMO_VERDICT_COOKIE = 'cheq_demo_verdict';
export const DEMO_VERDICTS = ['benign', 'suspicious', 'malicious'] as const;
type DemoVerdict = (typeof DEMO_VERDICTS)[number];

/** The pass cookie a passed challenge sets: the page says whether the browser holds one. */
const PASS_COOKIE = '_cq_se';

/** Not forwarded either way: they describe one connection, not the request. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
]);

export interface DemoSiteOptions {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** Our forward-auth endpoint, known once the server listens; requests wait for it. */
  readonly forwardAuthUrl: Promise<URL>;
  readonly dispatcher?: Dispatcher;
}

export interface DemoSite {
  /** Its address, e.g. http://127.0.0.1:8000/. */
  readonly url: string;
  close(): Promise<void>;
}

/** Listens (rejects when the port is taken) and serves until closed. */
export async function startDemoSite(options: DemoSiteOptions): Promise<DemoSite> {
  const server = createServer((req, res) => {
    handle(req, res, options).catch(() => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('The authorization server did not answer.\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    close: () =>
      new Promise(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: DemoSiteOptions) {
  const target = new URL(req.url ?? '/', 'http://site.invalid');
  if (target.pathname === VERDICT_PATH) {
    setVerdict(target.searchParams.get('v'), res);
    return;
  }
  const answer = await request(await options.forwardAuthUrl, {
    method: 'GET',
    headers: forwardAuthHeaders(req),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
  });
  const body = Buffer.from(await answer.body.arrayBuffer());
  if (answer.statusCode < 200 || answer.statusCode > 299) {
    // As Caddy and Traefik do: our answer reaches the browser unchanged.
    res.writeHead(answer.statusCode, passedHeaders(answer.headers));
    res.end(body);
    return;
  }
  if (target.pathname !== '/') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Not Found\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(page(cookies(req)));
}

/** The original request's headers and where it went, as forward_auth describes it. */
function forwardAuthHeaders(req: IncomingMessage): string[] {
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (!HOP_BY_HOP.has(name.toLowerCase()) && !/^x-forwarded-/i.test(name)) {
      headers.push(name, raw[i + 1] ?? '');
    }
  }
  headers.push(
    'x-forwarded-method',
    req.method ?? 'GET',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    req.headers.host ?? '',
    'x-forwarded-uri',
    req.url ?? '/',
    'x-forwarded-for',
    req.socket.remoteAddress ?? '',
  );
  return headers;
}

function passedHeaders(headers: Dispatcher.ResponseData['headers']): Record<string, string[]> {
  const passed: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) {
      passed[name] = Array.isArray(value) ? value : [value];
    }
  }
  return passed;
}

function setVerdict(value: string | null, res: ServerResponse): void {
  if (!isDemoVerdict(value)) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`v must be one of ${DEMO_VERDICTS.join(', ')}\n`);
    return;
  }
  res.writeHead(303, {
    location: '/',
    'set-cookie': `${DEMO_VERDICT_COOKIE}=${value}; Path=/; SameSite=Lax`,
    'cache-control': 'no-store',
  });
  res.end();
}

function isDemoVerdict(value: string | null): value is DemoVerdict {
  return (DEMO_VERDICTS as readonly (string | null)[]).includes(value);
}

function cookies(req: IncomingMessage): Map<string, string> {
  const jar = new Map<string, string>();
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return jar;
}

/** The protected page. Only fixed text and a verdict from DEMO_VERDICTS go into it. */
function page(jar: Map<string, string>): string {
  const cookie = jar.get(DEMO_VERDICT_COOKIE) ?? null;
  const verdict: DemoVerdict = isDemoVerdict(cookie) ? cookie : 'benign';
  const passed = jar.has(PASS_COOKIE)
    ? ' You passed a challenge: your browser holds the pass cookie, so a challenge lets you in until it expires.'
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>cheq-rti-authz demo site</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style>
</head><body>
<h1>Demo shop</h1>
<p><strong>Allowed.</strong> cheq-rti-authz asked RTI (the built-in emulator) about this request and let it through.</p>
<p>The emulator calls you <strong>${verdict}</strong>.${passed}</p>
<ul>
<li><a href="${VERDICT_PATH}?v=suspicious">Be suspicious</a> (a VPN): the next page is a challenge your browser passes by itself in a moment.</li>
<li><a href="${VERDICT_PATH}?v=malicious">Be malicious</a> (a scraper): the next page is the block page, with its incident ids.</li>
<li><a href="${VERDICT_PATH}?v=benign">Be benign again</a></li>
</ul>
</body></html>
`;
}
