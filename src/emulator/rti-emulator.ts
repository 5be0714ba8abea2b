// A built-in stand-in for CHEQ RTI, for the demo and for trying the server without credentials.
// It speaks the v1 (rti-api.md §1), v4 (§5) and v4.1 (§5.1) contracts; its verdict comes from the
// demo's cheq_demo_verdict cookie when the server passes it on, else from the end user's
// User-Agent.

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const EMULATOR_PATH = '/v1/realtime-interception';
export const EMULATOR_V4_PATH = '/defend/4.0/traffic';
export const EMULATOR_V41_PATH = '/defend/4.1/traffic';
/** Request bodies larger than this are refused with 413, whatever the API generation. */
const MAX_BODY_BYTES = 256 * 1024;

/** User-Agent substring → threat type code, first match wins (docs/development.md). */
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

/**
 * What the v4 answer says for each code above, and for 0: name and group (rti-api.md §4), then the
 * emulator's own risk score and cheqDetection.reasons (made up, stable per code: CHEQ does not
 * publish its reason codes). The verdict is benign for 0 and 19, suspicious for the "Invalid
 * Suspicious Activity" group, malicious otherwise; isAutomated is set for the bot groups, isProxy
 * for VPN and Proxy.
 */
const V4_CLASSIFICATIONS: readonly V4Classification[] = [
  [0, 'Valid', 'Valid Traffic', 3, []],
  [19, 'Good Bot', 'Known Bots', 10, [1901]],
  [3, 'Automation Tools', 'Invalid Bot Activity', 95, [301, 302]],
  [2, 'Scrapers', 'Invalid Bot Activity', 90, [201, 203]],
  [14, 'VPN', 'Invalid Suspicious Activity', 60, [1401]],
  [15, 'Proxy', 'Invalid Suspicious Activity', 65, [1501, 1502]],
  [13, 'Data Centers', 'Invalid Suspicious Activity', 70, [1301]],
  [9, 'Click Farm', 'Invalid Malicious Activity', 85, [901, 902]],
];

type V4Classification = readonly [
  code: number,
  name: string,
  group: string,
  riskScore: number,
  reasons: readonly number[],
];

/** Threat types RTI reports with isInvalid false (v1) and verdict benign (v4). */
const VALID_CODES = new Set([0, 19]);

export interface EmulatedVerdict {
  readonly isInvalid: boolean;
  readonly threatTypeCode: number;
}

/**
 * The code each demo verdict (the cheq_demo_verdict cookie) stands for: VPN (challenged by
 * default), Scrapers (blocked by default), Valid (docs/development.md).
 */
export const DEMO_VERDICT_CODES: Readonly<Record<string, number>> = {
  suspicious: 14,
  malicious: 2,
  benign: 0,
};

/** The demo verdict when one was passed on, else the User-Agent rules. */
export function emulateVerdict(userAgent: string | null, demoVerdict?: unknown): EmulatedVerdict {
  const ua = (userAgent ?? '').toLowerCase();
  const code =
    (typeof demoVerdict === 'string' && Object.hasOwn(DEMO_VERDICT_CODES, demoVerdict)
      ? DEMO_VERDICT_CODES[demoVerdict]
      : undefined) ??
    EMULATED_THREATS.find(([needle]) => ua.includes(needle))?.[1] ??
    0;
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

/** RTI path → how the emulator answers a POST there. */
const ANSWERS = new Map<string, (body: string, res: ServerResponse) => void>([
  [EMULATOR_PATH, answerV1],
  [EMULATOR_V4_PATH, (body, res) => answerV4(body, res, '4.0')],
  [EMULATOR_V41_PATH, (body, res) => answerV4(body, res, '4.1')],
]);

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const answer = req.method === 'POST' ? ANSWERS.get(req.url ?? '') : undefined;
  if (!answer) {
    respond(res, 404, { error: 'not found' });
    return;
  }
  const body = await readBody(req);
  if (body === undefined) {
    respond(res, 413, { error: 'body too large' });
    return;
  }
  answer(body, res);
}

function answerV1(body: string, res: ServerResponse): void {
  const form = new URLSearchParams(body);
  if (!form.get('ApiKey') || !form.get('TagHash')) {
    respond(res, 401, { error: 'ApiKey and TagHash are required' });
    return;
  }
  const verdict = emulateVerdict(form.get('UserAgent'), form.get('DemoVerdict'));
  const cookie = form.get('CheqCookie') || randomBytes(12).toString('hex');
  respond(res, 200, {
    version: 1,
    ...verdict,
    requestId: randomUUID(),
    setCookie: `_cheq_rti=${cookie}; Path=/; Max-Age=31536000; SameSite=Lax`,
  });
}

/** v4 and v4.1 answer alike; v4.1 reports the proxy's request id (customId2) as customParam2. */
function answerV4(body: string, res: ServerResponse, version: '4.0' | '4.1'): void {
  let request: unknown;
  try {
    request = JSON.parse(body);
  } catch {
    respond(res, 400, { error: 'body is not JSON' });
    return;
  }
  const { tagHash, apiKey, endUserParams, duidCookie, pvidCookie, demoVerdict, customId2 } =
    asRecord(request);
  if (!nonEmptyString(apiKey) || !nonEmptyString(tagHash)) {
    respond(res, 401, { error: 'apiKey and tagHash are required' });
    return;
  }
  const userAgent = asRecord(asRecord(endUserParams)['headers'])['user-agent'];
  const { threatTypeCode: code } = emulateVerdict(
    typeof userAgent === 'string' ? userAgent : null,
    demoVerdict,
  );
  const [, name, group, riskScore, reasons] =
    V4_CLASSIFICATIONS.find(([known]) => known === code) ?? V4_CLASSIFICATIONS[0]!;
  respond(res, 200, {
    metadata: {
      timestamp: Date.now(),
      version,
      tagName: 'rti-emulator',
      sessionFound: nonEmptyString(duidCookie),
    },
    decision: {
      verdict: VALID_CODES.has(code)
        ? 'benign'
        : group === 'Invalid Suspicious Activity'
          ? 'suspicious'
          : 'malicious',
      ruleName: `emulator: ${name}`,
      riskScore,
    },
    classification: { code, name, group },
    ids: {
      rayId: randomUUID(),
      pageViewId: nonEmptyString(pvidCookie) ? pvidCookie : randomUUID(),
      duid: nonEmptyString(duidCookie) ? duidCookie : randomBytes(12).toString('hex'),
      ...(version === '4.1' && nonEmptyString(customId2) ? { customParam2: customId2 } : {}),
    },
    cheqDetection: {
      detectedClassificationCode: code,
      isAutomated: group.includes('Bot'),
      isProxy: code === 14 || code === 15,
      reasons,
    },
  });
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/** The body as text; undefined past MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function respond(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
