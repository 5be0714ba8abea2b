// A built-in stand-in for CHEQ RTI, for the demo and for trying the server without credentials.
// It speaks the v1 contract (rti-api.md §1); its verdict comes from the end user's User-Agent.

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const EMULATOR_PATH = '/v1/realtime-interception';
const MAX_FORM_BYTES = 256 * 1024;

/** User-Agent substring → threat type code, first match wins (documented in the README). */
export const EMULATED_THREATS: readonly (readonly [needle: string, code: number])[] = [
  ['googlebot', 19], // Good Bot: not invalid
  ['headless', 3], // Automation Tools: block group
  ['bot', 2], // Scrapers: block group
  ['scraper', 2],
  ['vpn', 14], // VPN: challenge group
  ['proxy', 15], // Proxy: challenge group
  ['datacenter', 13], // Data Centers: challenge group
  ['clickfarm', 9], // Click Farm: in neither default group
];

/** Threat types RTI reports with isInvalid false. */
const VALID_CODES = new Set([0, 19]);

export interface EmulatedVerdict {
  readonly isInvalid: boolean;
  readonly threatTypeCode: number;
}

export function emulateVerdict(userAgent: string | null): EmulatedVerdict {
  const ua = (userAgent ?? '').toLowerCase();
  const code = EMULATED_THREATS.find(([needle]) => ua.includes(needle))?.[1] ?? 0;
  return { isInvalid: !VALID_CODES.has(code), threatTypeCode: code };
}

export interface RunningEmulator {
  readonly url: string;
  close(): Promise<void>;
}

export async function startRtiEmulator(host = '127.0.0.1', port = 0): Promise<RunningEmulator> {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => respond(res, 500, { error: 'emulator failure' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Exclusive: in a cluster worker (warm-up) it must not share a port with other workers.
    server.listen({ port, host, exclusive: true }, resolve);
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostPart}:${address.port}`,
    close: () =>
      new Promise(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST' || req.url !== EMULATOR_PATH) {
    respond(res, 404, { error: 'not found' });
    return;
  }
  const form = await readForm(req);
  if (!form) {
    respond(res, 413, { error: 'form too large' });
    return;
  }
  if (!form.get('ApiKey') || !form.get('TagHash')) {
    respond(res, 401, { error: 'ApiKey and TagHash are required' });
    return;
  }
  const verdict = emulateVerdict(form.get('UserAgent'));
  const cookie = form.get('CheqCookie') || randomBytes(12).toString('hex');
  respond(res, 200, {
    version: 1,
    ...verdict,
    requestId: randomUUID(),
    setCookie: `_cheq_rti=${cookie}; Path=/; Max-Age=31536000; SameSite=Lax`,
  });
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function respond(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
