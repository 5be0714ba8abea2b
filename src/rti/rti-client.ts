// CHEQ RTI over undici keep-alive pools, one per endpoint: one deadline over connect, headers
// and body; no retries; every response body read or the request aborted; every failure an
// RtiError with a stable code.

import { Pool, type Dispatcher } from 'undici';
import type { Cancellation } from '../core/cancellation';
import type { RtiCheck, RtiInput, RtiVerdict } from '../core/rti-port';
import { RtiError, type RtiCallErrorCode } from '../core/rti-port';
import { Preconnector } from './preconnector';
import type { RtiCredentials } from './rti-wire';
import type { WireFormat } from './wire-formats';

/** Idle pooled connections, and connections opened ahead and not taken, are closed after this. */
const KEEP_ALIVE_TIMEOUT_MS = 30_000;

export interface RtiEndpointOptions {
  /** Keep-alive connections to this endpoint, at most. */
  readonly connections: number;
  /** Answers larger than this are not read: rti_bad_response. */
  readonly maxResponseBytes: number;
  /** RTI calls in flight, shared by every endpoint of the process. */
  readonly calls: InFlightCalls;
}

/** RTI calls in flight in this process, counted until undici lets go of them; past max: rti_overloaded. */
export class InFlightCalls {
  count = 0;

  constructor(readonly max: number) {}
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

/**
 * The keep-alive connections to one RTI endpoint (a base URL; a path prefix is kept), shared by
 * every site that uses it, whatever their credentials and API generation.
 */
export class RtiEndpoint {
  private readonly pool: Pool;
  private readonly preconnector: Preconnector;
  private readonly basePath: string;

  constructor(
    readonly url: URL,
    private readonly options: RtiEndpointOptions,
  ) {
    this.preconnector = new Preconnector(url, KEEP_ALIVE_TIMEOUT_MS);
    this.pool = new Pool(url.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connect: this.preconnector.connect,
    });
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  /** One RTI call in `wire`'s format; rejects only with RtiError. */
  call(
    wire: WireFormat,
    credentials: RtiCredentials,
    input: RtiInput,
    timeoutMs: number,
    cancellation?: Cancellation,
  ): Promise<RtiVerdict> {
    const { calls } = this.options;
    if (calls.count >= calls.max) {
      return Promise.reject(
        new RtiError('rti_overloaded', `${calls.max} RTI calls already in flight`),
      );
    }
    calls.count++;
    return new Promise<RtiVerdict>((resolve, reject) => {
      const exchange = new RtiExchange({
        timeoutMs,
        maxResponseBytes: this.options.maxResponseBytes,
        parse: wire.parse,
        settle: outcome => (outcome instanceof RtiError ? reject(outcome) : resolve(outcome)),
        release: () => calls.count--,
      });
      cancellation?.onCancel(() => exchange.cancel());
      // undici's dispatch API rather than request(): no body stream, no AbortSignal per call.
      this.pool.dispatch(
        {
          path: `${this.basePath}${wire.path}`,
          method: 'POST',
          headers: wire.headers,
          body: wire.encode(input, credentials),
        },
        exchange,
      );
    });
  }

  /** The keep-alive pool now: connections open and idle, requests running and queued. */
  get poolStats(): RtiPoolStats {
    const { connected, free, pending, running } = this.pool.stats;
    return { connected, free, pending, running };
  }

  /**
   * Opens up to `count` connections (at most `connections`) to RTI ahead of traffic, TLS
   * included, without sending a request; the first checks get them. Resolves within
   * `timeoutMs` with how many are open and the first failure.
   */
  preconnect(count: number, timeoutMs: number): Promise<{ opened: number; error?: Error }> {
    return this.preconnector.open(Math.min(count, this.options.connections), timeoutMs);
  }

  /** Closes idle connections and waits for requests in flight. */
  async close(): Promise<void> {
    this.preconnector.close();
    await this.pool.close();
  }
}

/** One site's RTI: its credentials and API generation, over an endpoint's shared connections. */
export class RtiClient implements RtiCheck {
  constructor(
    private readonly endpoint: RtiEndpoint,
    private readonly wire: WireFormat,
    private readonly credentials: RtiCredentials,
  ) {}

  check(input: RtiInput, timeoutMs: number, cancellation?: Cancellation): Promise<RtiVerdict> {
    return this.endpoint.call(this.wire, this.credentials, input, timeoutMs, cancellation);
  }
}

interface ExchangeOptions {
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  /** Reads RTI's answer; throws RtiError when it holds no verdict. */
  readonly parse: (text: string) => RtiVerdict;
  /** Called once: with the verdict, or with the RtiError that stands for it. */
  readonly settle: (outcome: RtiVerdict | RtiError) => void;
  /** Called once, when undici lets go of the request. */
  readonly release: () => void;
}

/**
 * One RTI request, from dispatch to undici letting go of it. The answer is settled by the
 * first of: the response (its status alone when not 200), an error, the deadline, the caller's
 * cancellation. undici honours an abort only once the request is on a connection (not while
 * resolving DNS or connecting), so the deadline settles the answer itself and the abort follows
 * when undici starts the request.
 */
class RtiExchange implements Dispatcher.DispatchHandler {
  private settled = false;
  private controller: Dispatcher.DispatchController | undefined;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: ExchangeOptions) {
    this.timer = setTimeout(() => this.expire(), options.timeoutMs);
  }

  /**
   * The deadline passed. Timers run before the event loop reads sockets, so after a busy
   * stretch of ours an answer RTI sent in time may be waiting unread: let the loop read it
   * once (setImmediate runs after that I/O) before calling the call timed out.
   */
  private expire(): void {
    setImmediate(() => {
      const { timeoutMs } = this.options;
      this.fail(new RtiError('rti_timeout', `RTI did not answer within ${timeoutMs} ms`));
    });
  }

  /** The proxy gave up: answer at once and abort the request. */
  cancel(): void {
    if (!this.settled) this.fail(new RtiError('cancelled', 'the proxy cancelled the check'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(NO_LONGER_AWAITED);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    // Any other status is the answer already: fail open now; the body is still drained (up to
    // the cap) so the keep-alive connection survives.
    if (statusCode !== 200) {
      this.settleWith(
        new RtiError('rti_http_status', `RTI answered HTTP ${statusCode}`, { statusCode }),
      );
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.options.maxResponseBytes) {
      const error = new RtiError(
        'rti_bad_response',
        `RTI answer exceeds ${this.options.maxResponseBytes} bytes`,
      );
      this.fail(error);
      return;
    }
    if (!this.settled) this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.released();
    if (this.settled) return;
    let verdict: RtiVerdict;
    try {
      const [only] = this.chunks;
      // Mostly one chunk: read it in place rather than copy it into a new buffer.
      const body = this.chunks.length === 1 && only ? only : Buffer.concat(this.chunks, this.size);
      verdict = this.options.parse(body.toString('utf8'));
    } catch (err: unknown) {
      this.settleWith(
        err instanceof RtiError ? err : new RtiError('rti_bad_response', String(err)),
      );
      return;
    }
    this.settleWith(verdict);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.released();
    // After our own abort (deadline, cancellation) the answer was given already.
    if (this.settled) return;
    this.settleWith(
      new RtiError(networkErrorCode(err), `RTI request failed: ${describe(err)}`, { cause: err }),
    );
  }

  /** undici is done with the request: nothing left to abort or time. */
  private released(): void {
    clearTimeout(this.timer);
    this.controller = undefined;
    this.options.release();
  }

  /**
   * Answers (unless answered already) and stops the request when it is on its connection. The
   * deadline keeps running after an early answer (a 5xx whose body is drained), so that drain
   * is bounded too.
   */
  private fail(error: RtiError): void {
    this.settleWith(error);
    this.controller?.abort(error);
  }

  /** Settles the answer once. */
  private settleWith(outcome: RtiVerdict | RtiError): void {
    if (this.settled) return;
    this.settled = true;
    this.options.settle(outcome);
  }
}

const NO_LONGER_AWAITED = new Error('RTI call no longer awaited');

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

function networkErrorCode(err: unknown): RtiCallErrorCode {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'string' && TIMEOUT_CODES.has(code) ? 'rti_timeout' : 'rti_connect_error';
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = 'code' in err && typeof err.code === 'string' ? ` (${err.code})` : '';
  return `${err.message}${code}`;
}
