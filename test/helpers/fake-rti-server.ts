// A programmable RTI stand-in on loopback: records every request it receives and answers as
// the test says, including never answering, stalling mid-body and resetting the connection.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RTI_V4_PATH } from '../../src/rti/rti-wire-v4';
import { RTI_V41_PATH } from '../../src/rti/rti-wire-v41';

export type RtiBehaviour =
  | { readonly kind: 'verdict'; readonly body: Record<string, unknown>; readonly delayMs?: number }
  | {
      readonly kind: 'raw';
      readonly status: number;
      readonly body: string;
      readonly contentType?: string;
    }
  | { readonly kind: 'hang' }
  | { readonly kind: 'reset' }
  /** Headers (status 200 unless told), then part of a body that never completes. */
  | { readonly kind: 'stall-body'; readonly status?: number }
  /** Headers at once, then the body one byte every intervalMs. */
  | { readonly kind: 'drip'; readonly intervalMs: number }
  /** Headers and half a JSON body, then a TCP reset. */
  | { readonly kind: 'reset-mid-body' }
  /** Nothing until the test resolves `gate`, then `then`: an answer held as long as a test needs. */
  | { readonly kind: 'held'; readonly gate: Promise<unknown>; readonly then: RtiBehaviour };

export interface RecordedCall {
  readonly method: string;
  /** The request target as sent: a v4 call's ends with RTI_V4_PATH, a v4.1 call's RTI_V41_PATH. */
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  /** The body read as a v1 form (meaningless for a v4 call). */
  readonly form: URLSearchParams;
  /** The body parsed as JSON when it was sent as application/json (v4); undefined otherwise. */
  readonly json: unknown;
  /** Becomes true when the client went away before the answer was complete. */
  aborted: boolean;
}

export const VALID_VERDICT = {
  version: 1,
  isInvalid: false,
  threatTypeCode: 0,
  requestId: 'rti-req-1',
  setCookie: '_cheq_rti=fake-cookie; Path=/; Max-Age=3600',
};

export function verdict(fields: Record<string, unknown>, delayMs?: number): RtiBehaviour {
  return {
    kind: 'verdict',
    body: { ...VALID_VERDICT, ...fields },
    ...(delayMs ? { delayMs } : {}),
  };
}

/** A complete v4 answer (rti-api.md §5) for a benign visitor, with sections we do not read. */
export const V4_BENIGN_VERDICT = {
  metadata: { timestamp: 1_700_000_000_000, version: '4.0', tagName: 'shop', sessionFound: true },
  decision: { verdict: 'benign', ruleName: 'default-allow', riskScore: 4 },
  classification: { code: 0, name: 'Valid', group: 'Valid Traffic' },
  ids: { rayId: 'rti-ray-1', pageViewId: 'pvid-1', duid: 'duid-1', uniqueVisitId: 'visit-1' },
  device: { type: 'desktop', os: 'Linux', browser: 'Chrome' },
  network: { ip: '203.0.113.7', xForwardedFor: '203.0.113.7', geoIp: { country: 'US' }, as: 64500 },
  fingerprints: {},
  cheqDetection: { detectedClassificationCode: 0, isAutomated: false, isProxy: false, reasons: [] },
};

/**
 * A v4 answer: V4_BENIGN_VERDICT with `fields` laid over it one level deep, so
 * `v4Verdict({ decision: { verdict: 'malicious' } })` keeps the other decision fields. A field set
 * to undefined is left out; a non-object replaces the whole section.
 */
export function v4Verdict(fields: Record<string, unknown>, delayMs?: number): RtiBehaviour {
  const body: Record<string, unknown> = { ...V4_BENIGN_VERDICT };
  for (const [name, value] of Object.entries(fields)) {
    const base = body[name];
    body[name] = isPlainObject(base) && isPlainObject(value) ? { ...base, ...value } : value;
  }
  return { kind: 'verdict', body, ...(delayMs ? { delayMs } : {}) };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether the call was made to the v4 or the v4.1 endpoint (both speak v4 JSON). */
export function isV4Call(call: RecordedCall): boolean {
  return call.path.endsWith(RTI_V4_PATH) || isV41Call(call);
}

/** Whether the call was made to the v4.1 endpoint. */
export function isV41Call(call: RecordedCall): boolean {
  return call.path.endsWith(RTI_V41_PATH);
}

/** A benign answer in the generation the call speaks. */
function defaultBehaviour(_form: URLSearchParams, call: RecordedCall): RtiBehaviour {
  if (isV41Call(call)) return v4Verdict({ metadata: { version: '4.1' } });
  return isV4Call(call) ? v4Verdict({}) : verdict({});
}

export class FakeRti {
  readonly calls: RecordedCall[] = [];
  /** Decides the answer from the posted form or the call; a benign verdict by default. */
  behaviour: (form: URLSearchParams, call: RecordedCall) => RtiBehaviour = defaultBehaviour;
  /** TCP connections accepted so far. */
  connections = 0;
  private readonly server = createServer((req, res) => this.handle(req, res));
  private readonly timers = new Set<NodeJS.Timeout>();

  static async start(): Promise<FakeRti> {
    const fake = new FakeRti();
    await fake.listen();
    return fake;
  }

  /** Listens on a free loopback port: for one made with `new` (FakeRti.start() does both). */
  async listen(): Promise<void> {
    this.server.on('connection', () => this.connections++);
    await new Promise<void>(resolve => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once `count` calls have been received. */
  async waitForCalls(count: number, timeoutMs = 2000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.calls.length < count) {
      if (Date.now() > until)
        throw new Error(`expected ${count} RTI calls, got ${this.calls.length}`);
      await new Promise(resolve => setTimeout(resolve, 5));
    }
  }

  /** Waits until every recorded call was aborted by the client, or timeoutMs passes. */
  async waitForAborts(timeoutMs = 2000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.calls.some(call => !call.aborted) && Date.now() < until) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
  }

  reset(): void {
    this.calls.length = 0;
    this.behaviour = defaultBehaviour;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    await new Promise(resolve => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const call: RecordedCall = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        form: new URLSearchParams(text),
        json: req.headers['content-type']?.startsWith('application/json')
          ? parseJson(text)
          : undefined,
        aborted: false,
      };
      this.calls.push(call);
      res.on('close', () => {
        if (!res.writableFinished) call.aborted = true;
      });
      this.answer(this.behaviour(call.form, call), res, call);
    });
  }

  private answer(behaviour: RtiBehaviour, res: ServerResponse, call: RecordedCall): void {
    switch (behaviour.kind) {
      case 'verdict': {
        const send = (): void => {
          const text = JSON.stringify(behaviour.body);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(text);
        };
        if (behaviour.delayMs) this.later(send, behaviour.delayMs);
        else send();
        return;
      }
      case 'raw':
        res.writeHead(behaviour.status, { 'content-type': behaviour.contentType ?? 'text/html' });
        res.end(behaviour.body);
        return;
      case 'hang':
        return;
      case 'reset':
        res.socket?.destroy();
        return;
      case 'stall-body':
        res.writeHead(behaviour.status ?? 200, { 'content-type': 'application/json' });
        res.write('{"isInvalid":');
        return;
      case 'drip': {
        const body = JSON.stringify(isV4Call(call) ? V4_BENIGN_VERDICT : VALID_VERDICT);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        let sent = 0;
        const next = (): void => {
          if (res.destroyed) return;
          res.write(body[sent++]);
          if (sent < body.length) this.later(next, behaviour.intervalMs);
          else res.end();
        };
        next();
        return;
      }
      case 'reset-mid-body':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 200 });
        res.write('{"isInvalid":false,', () => res.socket?.resetAndDestroy());
        return;
      case 'held':
        void behaviour.gate.then(() => {
          if (!res.destroyed) this.answer(behaviour.then, res, call);
        });
        return;
    }
  }

  private later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
