// CHEQ RTI over an undici keep-alive pool: one deadline over connect, headers and body; no
// retries; every response body read or destroyed; every failure an RtiError with a stable code.

import { Pool } from 'undici';
import type { RtiCheck, RtiInput, RtiVerdict } from '../core/rti-port';
import { RtiError, type RtiCallErrorCode } from '../core/rti-port';
import { parseRtiResponse, toRtiForm, type RtiCredentials } from './rti-wire';

export const RTI_PATH = '/v1/realtime-interception';

export interface RtiClientOptions extends RtiCredentials {
  /** Base URL of the RTI API, e.g. https://rti-global.cheqzone.com (a path prefix is kept). */
  readonly endpoint: URL;
  /** Keep-alive connections to RTI, at most. */
  readonly connections: number;
  /** Answers larger than this are not read: RTI_BAD_RESPONSE. */
  readonly maxResponseBytes: number;
  /** Calls in flight, at most, counted until undici lets go of them; past it: RTI_OVERLOADED. */
  readonly maxInFlight: number;
}

export interface RtiPoolStats {
  /** Connections open to RTI. */
  readonly connected: number;
  /** Open connections with no request on them. */
  readonly free: number;
  /** Requests waiting for a connection. */
  readonly pending: number;
  /** Requests being sent or answered. */
  readonly running: number;
}

export class RtiClient implements RtiCheck {
  private readonly pool: Pool;
  private calls = 0;
  private readonly path: string;

  constructor(private readonly options: RtiClientOptions) {
    this.pool = new Pool(options.endpoint.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
    });
    this.path = `${options.endpoint.pathname.replace(/\/+$/, '')}${RTI_PATH}`;
  }

  async check(input: RtiInput, timeoutMs: number, signal?: AbortSignal): Promise<RtiVerdict> {
    if (signal?.aborted) throw new RtiError('RTI_ABORTED', 'the proxy cancelled the check');
    if (this.calls >= this.options.maxInFlight) {
      throw new RtiError(
        'RTI_OVERLOADED',
        `${this.options.maxInFlight} RTI calls already in flight`,
      );
    }
    const deadline = new RequestDeadline(timeoutMs, signal);
    this.calls++;
    const call = this.call(input, deadline.signal);
    // undici honours an abort only once a connection exists: a DNS lookup or a connect can
    // outlive the deadline. The answer does not wait for it (the late outcome is dropped),
    // but the call counts as in flight until undici lets go of it.
    call.then(
      () => this.calls--,
      () => this.calls--,
    );
    try {
      return await Promise.race([call, deadline.expired]);
    } catch (err: unknown) {
      throw deadline.explain(err);
    } finally {
      deadline.clear();
    }
  }

  private async call(input: RtiInput, signal: AbortSignal): Promise<RtiVerdict> {
    const response = await this.pool.request({
      path: this.path,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: toRtiForm(input, this.options),
      signal,
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new RtiError('RTI_HTTP_STATUS', `RTI answered HTTP ${response.statusCode}`, {
        statusCode: response.statusCode,
      });
    }
    return parseRtiResponse(await readCapped(response.body, this.options.maxResponseBytes));
  }

  /** RTI calls in flight now, including calls answered already but still held by undici. */
  get inFlight(): number {
    return this.calls;
  }

  /** The keep-alive pool now: connections open and idle, requests running and queued. */
  get poolStats(): RtiPoolStats {
    const { connected, free, pending, running } = this.pool.stats;
    return { connected, free, pending, running };
  }

  /** Closes idle connections and waits for requests in flight. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** One abort signal for our timeout and the caller's cancellation, told apart afterwards. */
class RequestDeadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  private cancelled = false;
  private readonly onCallerAbort = (): void => {
    this.cancelled = true;
    this.controller.abort();
  };

  constructor(
    private readonly timeoutMs: number,
    private readonly callerSignal: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, timeoutMs);
    callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Rejects as soon as the deadline passes or the caller cancels. */
  readonly expired = new Promise<never>((_, reject) => {
    this.controller.signal.addEventListener('abort', () => reject(new Error('aborted')), {
      once: true,
    });
  });

  clear(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }

  explain(err: unknown): RtiError {
    if (this.cancelled) return new RtiError('RTI_ABORTED', 'the proxy cancelled the check');
    if (this.timedOut) {
      return new RtiError('RTI_TIMEOUT', `RTI did not answer within ${this.timeoutMs} ms`);
    }
    if (err instanceof RtiError) return err;
    const code = networkErrorCode(err);
    return new RtiError(code, `RTI request failed: ${describe(err)}`, { cause: err });
  }
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

function networkErrorCode(err: unknown): RtiCallErrorCode {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'string' && TIMEOUT_CODES.has(code) ? 'RTI_TIMEOUT' : 'RTI_CONNECT';
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = 'code' in err && typeof err.code === 'string' ? ` (${err.code})` : '';
  return `${err.message}${code}`;
}

/** Reads a body as UTF-8 up to maxBytes; a larger body is destroyed, not drained. */
async function readCapped(body: AsyncIterable<Buffer> & { destroy(): void }, maxBytes: number) {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw new RtiError('RTI_BAD_RESPONSE', `RTI answer exceeds ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
