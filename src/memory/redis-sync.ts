// Shares the verdict memory with the other replicas through one Redis stream (design.md's wire):
// this process's changes are appended (XADD, one pipeline per tick), the others' are read (XREAD
// BLOCK on a second connection) and applied. No check waits on any of it: Redis down, slow or
// restarting stops only the sharing, said once per outage; changes made meanwhile wait in a
// bounded buffer and are sent after the reconnect, and what the others sent is read back. A Redis
// that reads but refuses writes (a read-only replica, out of memory, an ACL without XADD) keeps
// the connections: the peers' changes are still read, ours wait and are retried with backoff.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type * as NodeRedis from 'redis';
import type { RedisConfig } from '../config/redis-config';
import type { Logger } from '../observability/logger';
import {
  createVerdictMemorySyncMetrics,
  type VerdictMemorySyncMetrics,
} from '../observability/metric-families/verdict-memory-sync-metrics';
import { decodeChange, encodeChange, WIRE_FIELD } from './memory-change-wire';
import {
  CONNECT_TIMEOUT_MS,
  createRedisClient,
  loadRedis,
  type RedisClient,
  type RedisModule,
} from './redis-client';
import type { MemoryChange, VerdictMemory } from './verdict-memory';

export interface RedisSyncOptions {
  readonly memory: VerdictMemory;
  readonly settings: RedisConfig;
  /**
   * The longest site TTL in use: peers' blocks are kept no longer, and at start the stream is
   * read back this far.
   */
  readonly maxTtlMs: () => number;
  readonly log: Logger;
  readonly registry: Registry;
}

export interface RedisSync {
  /** Sends what is still buffered (briefly) and disconnects; never rejects, never hangs. */
  close(): Promise<void>;
}

/** Changes waiting to be sent, at most; past it they are dropped (counted). */
const BUFFER_LIMIT = 10_000;
/** XADDs per pipeline. */
const BATCH_SIZE = 500;
/** Entries per XREAD. */
const READ_COUNT = 1000;
/** How long one XREAD waits for new entries. */
const BLOCK_MS = 1000;
/**
 * A connection that answers nothing for this long (beyond XREAD's own wait) is dropped and made
 * again: a stopped or overloaded Redis keeps the TCP connection open and never replies.
 */
const REPLY_TIMEOUT_MS = 3000;
/** Reconnect (and refused writes' retry) backoff: doubled from the first to the cap. */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_CAP_MS = 5000;
/**
 * A session whose reads were answered over this long worked: the reconnect backoff starts over
 * after it. One that fails right after its first read (a proxy, a Redis that drops clients or
 * stops answering) keeps backing off instead of reconnecting every 0.1 s.
 */
const WORKED_MS = BACKOFF_CAP_MS;
/** How long close() tries to send what is still buffered. */
const CLOSE_FLUSH_MS = 1000;

/** One pair of connections; `failed` rejects on the first error of either. */
interface Session {
  /** node-redis, whose error classes tell Redis's refusals from a broken connection. */
  readonly redis: RedisModule;
  readonly publisher: RedisClient;
  readonly follower: RedisClient;
  readonly failed: Promise<never>;
  fail(err: unknown): void;
}

interface RefusedWrites {
  readonly sinceMs: number;
  /** The wait before the next flush, doubled per refusal up to BACKOFF_CAP_MS. */
  retryMs: number;
  retry: NodeJS.Timeout | undefined;
}

interface Buffered {
  readonly change: MemoryChange;
  readonly atMs: number;
}

/** Starts sharing `memory` through Redis; the connection is made in the background. */
export function startRedisSync(options: RedisSyncOptions): RedisSync {
  return new RedisStreamSync(options);
}

class RedisStreamSync implements RedisSync {
  /** Tells this process's entries from the others' in the stream. */
  private readonly replicaId = randomUUID();
  private readonly metrics: VerdictMemorySyncMetrics;
  private readonly stopping = new AbortController();
  private readonly running: Promise<void>;
  private buffer: Buffered[] = [];
  /** The session connecting or connected, which close() ends. */
  private current: Session | undefined;
  /** The session that is following the stream; undefined while not connected. */
  private up: Session | undefined;
  /** The last stream entry read: the next read continues after it, across reconnects. */
  private lastId: string;
  /** Since when sharing is lost (said once, at its start); undefined while up or not yet tried. */
  private outage: { readonly sinceMs: number } | undefined;
  /** Since when the session followed the stream (its first read's answer). */
  private upSinceMs = 0;
  /** When the session's last read was answered: waiting on a silent Redis is not following. */
  private lastReadMs = 0;
  /** Set while Redis refuses our writes (said once, at its start); flushes wait `retryMs`. */
  private refused: RefusedWrites | undefined;
  private everUp = false;
  private flushing: Promise<void> | undefined;
  private flushQueued = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: RedisSyncOptions) {
    this.metrics = createVerdictMemorySyncMetrics([options.registry]);
    // Stream ids are Redis's clock in milliseconds: start at what is still worth remembering.
    this.lastId = `${Math.max(0, Date.now() - options.maxTtlMs())}-0`;
    options.memory.onChange(change => this.enqueue(change));
    this.running = this.run();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const session = this.up;
      if (session && this.buffer.length > 0) {
        await withTimeout(this.flush(session), CLOSE_FLUSH_MS, 'the last changes').catch(
          () => undefined,
        );
      }
      this.stopping.abort();
      clearTimeout(this.refused?.retry);
      // Ends a connect or the blocked XREAD at once: the connections are destroyed, not quit.
      this.current?.fail(new Error('closed'));
      await this.running;
    })();
    return this.closing;
  }

  private get closed(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Connects, follows the stream until the connection fails, and connects again. */
  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.closed) {
      let session: Session | undefined;
      try {
        // Only now: a process that does not share never loads node-redis (a failure is retried).
        const redis = await loadRedis();
        // Closed meanwhile: close() found no session to end, so none may start.
        if (this.closed) break;
        session = this.newSession(redis);
        await this.connect(session);
        await Promise.race([this.follow(session), session.failed]);
      } catch (err: unknown) {
        if (!this.closed) this.lost(err);
      } finally {
        if (session) {
          if (this.up === session && this.lastReadMs - this.upSinceMs >= WORKED_MS) attempt = 0;
          this.end(session);
        }
      }
      const backoffMs = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** attempt++);
      if (!this.closed) {
        this.options.log.debug({ backoffMs }, 'verdict memory sharing through Redis: reconnecting');
      }
      await sleep(backoffMs * (0.5 + Math.random() / 2), undefined, {
        signal: this.stopping.signal,
      }).catch(() => undefined);
    }
    this.metrics.setUp(false);
  }

  private newSession(redis: RedisModule): Session {
    const publisher = createRedisClient(redis, this.options.settings);
    const follower = publisher.duplicate();
    let fail: (err: unknown) => void = () => undefined;
    const failed = new Promise<never>((_resolve, reject) => (fail = reject));
    // Observed by run's race; a failure after the session ended is nobody's concern.
    failed.catch(() => undefined);
    const session: Session = { redis, publisher, follower, failed, fail: err => fail(err) };
    // Without a listener an 'error' event would throw out of the client.
    for (const client of [publisher, follower]) client.on('error', (err: unknown) => fail(err));
    this.current = session;
    return session;
  }

  private async connect(session: Session): Promise<void> {
    const { publisher, follower, failed } = session;
    await withTimeout(
      Promise.race([Promise.all([publisher.connect(), follower.connect()]), failed]),
      CONNECT_TIMEOUT_MS,
      'connecting',
    );
  }

  /** Reads the stream from the last entry read: first what was missed, then as it comes. */
  private async follow(session: Session): Promise<void> {
    const { stream } = this.options.settings;
    let caughtUp = false;
    while (!this.closed) {
      const reply: unknown = await withTimeout(
        session.follower.xRead(
          { key: stream, id: this.lastId },
          // Waits for news only once caught up, so that the first read says at once we are up.
          caughtUp ? { COUNT: READ_COUNT, BLOCK: BLOCK_MS } : { COUNT: READ_COUNT },
        ),
        BLOCK_MS + REPLY_TIMEOUT_MS,
        'XREAD',
      );
      this.lastReadMs = Date.now();
      if (this.up !== session) this.restored(session, this.lastReadMs);
      const entries = entriesOf(reply);
      for (const { id, fields } of entries) {
        this.lastId = id;
        this.receive(fields, caughtUp);
      }
      caughtUp = entries.length < READ_COUNT;
    }
  }

  private receive(fields: Record<string, unknown>, live: boolean): void {
    const now = Date.now();
    const wire = decodeChange(fields[WIRE_FIELD], now);
    if (wire === undefined) {
      this.metrics.count('invalid');
      return;
    }
    if (wire.from === this.replicaId) return;
    this.options.memory.apply(wire.change, 'peer', this.options.maxTtlMs(), wire.atMs);
    this.metrics.count('received');
    if (live) this.metrics.observeLag((now - wire.atMs) / 1000);
  }

  private enqueue(change: MemoryChange): void {
    if (this.closed) return;
    if (this.buffer.length >= BUFFER_LIMIT) {
      this.metrics.count('dropped');
      return;
    }
    this.buffer.push({ change, atMs: Date.now() });
    this.scheduleFlush();
  }

  /** One flush per tick, however many changes the tick's checks made. */
  private scheduleFlush(): void {
    if (this.refused) {
      this.retryRefused();
      return;
    }
    if (this.flushQueued || this.up === undefined) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      const session = this.up;
      if (session) this.flush(session).catch((err: unknown) => session.fail(err));
    });
  }

  /** Sends the buffer in pipelines; what was not sent stays for the next connection. */
  private flush(session: Session): Promise<void> {
    if (this.flushing) return this.flushing;
    // `finally` runs after this assignment even when there is nothing to send.
    const flushing = this.send(session).finally(() => (this.flushing = undefined));
    this.flushing = flushing;
    return flushing;
  }

  private async send(session: Session): Promise<void> {
    const { stream } = this.options.settings;
    const trim = { strategy: 'MAXLEN', strategyModifier: '~', threshold: this.maxLength } as const;
    while (this.buffer.length > 0 && this.up === session) {
      const now = Date.now();
      // A block that expired while Redis was away is news to no one.
      this.buffer = this.buffer.filter(
        ({ change }) => change.op !== 'block' || change.expiresAtMs > now,
      );
      const batch = this.buffer.slice(0, BATCH_SIZE);
      if (batch.length === 0) break;
      // One XADD per change, all written at once (node-redis pipelines a tick's commands), each
      // with its own answer: Redis may take part of a batch and refuse the rest (OOM midway), and
      // what it took must be neither sent nor counted again.
      const answers = await withTimeout(
        Promise.allSettled(
          batch.map(({ change, atMs }) =>
            session.publisher.xAdd(
              stream,
              '*',
              { [WIRE_FIELD]: encodeChange(change, this.replicaId, atMs) },
              { TRIM: trim },
            ),
          ),
        ),
        REPLY_TIMEOUT_MS,
        'XADD',
      );
      // What was refused goes first next time, in order: a change follows a later one only when
      // Redis refuses and then takes again within one batch (memory freed by another client). A
      // timeout above leaves the batch whole: nothing unknown is counted, and a change sent again
      // on the next connection is the same change.
      const unsent = batch.filter((_entry, i) => answers[i]?.status !== 'fulfilled');
      // Only appended to meanwhile: the batch is still the buffer's head.
      this.buffer.splice(0, batch.length, ...unsent);
      this.metrics.count('published', batch.length - unsent.length);
      const failures = answers.flatMap(answer => (answer.status === 'rejected' ? [answer] : []));
      // An error reply is Redis refusing the writes, not a broken connection: reconnecting
      // would only be refused again, and would stop the reading that still works.
      const broken = failures.find(({ reason }) => !(reason instanceof session.redis.ErrorReply));
      if (broken) throw broken.reason;
      const refusal = failures[0]?.reason as NodeRedis.ErrorReply | undefined;
      if (refusal) {
        this.writesRefused(refusal);
        return;
      }
      this.writesAccepted();
    }
  }

  private writesRefused(err: NodeRedis.ErrorReply): void {
    const { log, settings } = this.options;
    const reason = describeRedisError(settings, err);
    if (this.refused) {
      log.debug({ reason }, 'verdict memory sharing through Redis: writes still refused');
    } else {
      this.refused = { sinceMs: Date.now(), retryMs: BACKOFF_FIRST_MS, retry: undefined };
      log.warn(
        { redis: `${settings.host}:${settings.port}`, reason },
        `verdict memory sharing through Redis: writes refused: ${reason}; this replica's changes wait (the others' are still read), retrying`,
      );
    }
    this.retryRefused();
  }

  /** The next flush while writes are refused, after the backoff (one pending at most). */
  private retryRefused(): void {
    const refused = this.refused;
    if (refused === undefined || refused.retry !== undefined || this.closed) return;
    refused.retry = setTimeout(() => {
      refused.retry = undefined;
      const session = this.up;
      if (session) this.flush(session).catch((err: unknown) => session.fail(err));
    }, refused.retryMs);
    refused.retry.unref();
    refused.retryMs = Math.min(BACKOFF_CAP_MS, refused.retryMs * 2);
  }

  private writesAccepted(): void {
    if (this.refused === undefined) return;
    const { log, settings } = this.options;
    clearTimeout(this.refused.retry);
    const refusedMs = Date.now() - this.refused.sinceMs;
    this.refused = undefined;
    log.info(
      { redis: `${settings.host}:${settings.port}`, refusedMs },
      'verdict memory sharing through Redis: writes accepted again',
    );
  }

  /** The stream holds about as many entries as one memory: more would only be read back. */
  private get maxLength(): number {
    return this.options.memory.maxEntries;
  }

  /** The session's first read was answered at `atMs`: it follows the stream. */
  private restored(session: Session, atMs: number): void {
    const { log, settings } = this.options;
    this.up = session;
    this.upSinceMs = atMs;
    this.metrics.setUp(true);
    const fields = { redis: `${settings.host}:${settings.port}`, stream: settings.stream };
    if (this.outage) {
      const downMs = Date.now() - this.outage.sinceMs;
      log.info({ ...fields, downMs }, 'verdict memory sharing through Redis restored');
    } else if (!this.everUp) {
      log.info(fields, 'verdict memory shared through Redis');
    }
    this.outage = undefined;
    this.everUp = true;
    this.scheduleFlush();
  }

  private lost(err: unknown): void {
    const { log, settings } = this.options;
    const reason = describeRedisError(settings, err);
    if (this.outage) {
      log.debug({ reason }, 'verdict memory sharing through Redis: still down');
      return;
    }
    if (this.up !== undefined) this.metrics.disconnected();
    this.outage = { sinceMs: Date.now() };
    this.metrics.setUp(false);
    log.warn(
      { redis: `${settings.host}:${settings.port}`, reason },
      `verdict memory sharing through Redis lost: ${reason}; checks are served from the local memory, reconnecting`,
    );
  }

  private end(session: Session): void {
    if (this.up === session) this.up = undefined;
    if (this.current === session) this.current = undefined;
    session.fail(new Error('session ended'));
    for (const client of [session.publisher, session.follower]) {
      // Destroyed, not quit: a stopped Redis would never answer QUIT.
      if (client.isOpen) client.destroy();
    }
  }
}

/** A stream entry as XREAD returns it, checked: the reply is Redis's, the fields anyone's. */
interface StreamEntry {
  readonly id: string;
  readonly fields: Record<string, unknown>;
}

function entriesOf(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) return [];
  const entries: StreamEntry[] = [];
  for (const stream of reply as unknown[]) {
    const messages = (stream as { messages?: unknown } | null)?.messages;
    if (!Array.isArray(messages)) continue;
    for (const message of messages as unknown[]) {
      const { id, message: fields } = (message ?? {}) as { id?: unknown; message?: unknown };
      if (typeof id !== 'string') continue;
      const isObject = typeof fields === 'object' && fields !== null;
      entries.push({ id, fields: isObject ? (fields as Record<string, unknown>) : {} });
    }
  }
  return entries;
}

/** Rejects when `promise` has not settled within `ms` (it is left to settle on its own). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An error as one line, with the password taken out should a server ever echo it. */
export function describeRedisError(settings: RedisConfig, err: unknown): string {
  const text = err instanceof Error ? err.message || err.name : String(err);
  const { password } = settings;
  return password ? text.split(password).join('<redacted>') : text;
}
