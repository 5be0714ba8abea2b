// Cluster workers share their verdict memories through the primary (node:cluster IPC): a worker
// tells the primary each block it learns and each visitor RTI let go, and the primary relays it
// to the other workers. The primary's admin endpoint sends an operator's forget to every worker.
// The primary holds no memory and no metrics (/metrics is the workers'): what it drops or refuses
// is told to the worker concerned, which counts it. Messages are validated on arrival like a
// Redis peer's.

import type { Worker } from 'node:cluster';
import type { Registry } from 'prom-client';
import {
  forgetBody,
  parseForgetRequest,
  type ForgetOutcome,
  type ForgetRequest,
} from '../memory/forget-request';
import { changeOf } from '../memory/memory-change-wire';
import type { MemoryChange, VerdictMemory } from '../memory/verdict-memory';
import type { Logger } from '../observability/logger';
import { createSyncMessageCounter } from '../observability/metric-families/verdict-memory-sync-metrics';

const CHANGE = 'cheq-rti-authz:memory-change';
/** The primary to a worker: changes it dropped on the way to the worker, and refused from it. */
const UNCOUNTED = 'cheq-rti-authz:memory-uncounted';
const FORGET = 'cheq-rti-authz:memory-forget';
const FORGOTTEN = 'cheq-rti-authz:memory-forgotten';
/** A worker that has not answered a forget by then is taken for stuck: the forget fails. */
const FORGET_TIMEOUT_MS = 5000;
/**
 * Changes sent on one IPC channel and not yet written, at most: past it they are dropped, so that
 * a channel that cannot keep up (a stuck worker, a flood of new keys) holds no unbounded backlog
 * (the Redis path's buffer has the same bound).
 */
export const MAX_UNWRITTEN_CHANGES = 10_000;

/** One channel's changes in flight; a change past the bound is dropped. */
class ChangeChannel {
  private unwritten = 0;
  private dropping = false;

  /** @param onDrop told of each change dropped, `runStarts` for the first of a run */
  constructor(
    private readonly send: (message: object, written: () => void) => void,
    private readonly onDrop: (runStarts: boolean) => void,
  ) {}

  get full(): boolean {
    return this.unwritten >= MAX_UNWRITTEN_CHANGES;
  }

  /** False when the change was dropped. */
  sendChange(change: MemoryChange): boolean {
    if (this.full) {
      this.onDrop(!this.dropping);
      this.dropping = true;
      return false;
    }
    this.dropping = false;
    this.unwritten++;
    this.send({ type: CHANGE, change }, () => this.unwritten--);
    return true;
  }
}

/** A change as a sibling worker sent it: only the fields of a MemoryChange, checked as Redis's. */
export function parseMemoryChange(value: unknown): MemoryChange | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { op, key, tag, expiresAtMs } = value as Record<string, unknown>;
  return changeOf(op, key, expiresAtMs, tag, Date.now());
}

function messageOf(value: unknown, type: string): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  return message['type'] === type ? message : undefined;
}

export interface WorkerMemory {
  readonly memory: VerdictMemory;
  /** Where a worker sharing through the primary counts the changes. */
  readonly registry: Registry;
  forget(request: ForgetRequest): ForgetOutcome;
  applyPeerChange(change: MemoryChange): void;
}

export interface WorkerSharingOptions {
  /** Whether this worker's changes go to its siblings (not when Redis shares them). */
  readonly relay: boolean;
  readonly log: Logger;
}

/** A worker's side: tells the primary its changes, applies its siblings' and the forgets. */
export function shareWorkerMemory(worker: WorkerMemory, options: WorkerSharingOptions): void {
  const send = (message: object, written: () => void = ignore): void => {
    // The callback also takes a failed send (the primary gone): without it, it would be thrown.
    if (process.connected) process.send?.(message, undefined, undefined, written);
    else written();
  };
  if (options.relay) relayWorkerChanges(worker, send, options.log);
  process.on('message', (message: unknown) => {
    const forget = messageOf(message, FORGET);
    if (!forget) return;
    const request = parseForgetRequest(forget['body']);
    const outcome = 'refused' in request ? request : worker.forget(request);
    send({ type: FORGOTTEN, id: forget['id'], outcome });
  });
}

/** Sends this worker's changes to the primary and applies its siblings', counting both ways. */
function relayWorkerChanges(
  worker: WorkerMemory,
  send: (message: object, written: () => void) => void,
  log: Logger,
): void {
  const count = createSyncMessageCounter([worker.registry]);
  const toPrimary = new ChangeChannel(send, runStarts => {
    count('dropped');
    if (runStarts) {
      log.warn('verdict memory: the primary cannot keep up; dropping changes to share');
    }
  });
  // An operator's changes come from the primary, which has sent them to every worker.
  worker.memory.onChange((change, source) => {
    if (source === 'local' && toPrimary.sendChange(change)) count('published');
  });
  let invalid = 0;
  process.on('message', (message: unknown) => {
    const changed = messageOf(message, CHANGE);
    if (changed) {
      const change = parseMemoryChange(changed['change']);
      if (change) {
        worker.applyPeerChange(change);
        count('received');
      } else {
        count('invalid');
        if (invalid++ === 0) log.warn('verdict memory: dropped an invalid IPC change');
      }
      return;
    }
    const uncounted = messageOf(message, UNCOUNTED);
    if (uncounted) {
      count('dropped', countOf(uncounted['dropped']));
      count('invalid', countOf(uncounted['invalid']));
    }
  });
}

/** A count the primary sent: a positive whole number, else 0. */
function countOf(value: unknown): number {
  return Number.isSafeInteger(value) && (value as number) > 0 ? (value as number) : 0;
}

/**
 * The primary's channel to one worker, with what the primary dropped on the way to it or refused
 * from it: told to the worker (which counts it) as soon as the channel has room.
 */
class WorkerOutbox {
  private readonly channel: ChangeChannel;
  private dropped = 0;
  private invalid = 0;

  constructor(
    private readonly worker: Worker,
    log: Logger | undefined,
  ) {
    this.channel = new ChangeChannel(
      (message, written) =>
        worker.send(message, undefined, undefined, () => {
          written();
          this.tell();
        }),
      runStarts => {
        this.dropped++;
        if (runStarts) {
          log?.warn(
            { worker: worker.id },
            'verdict memory: a worker cannot keep up; dropping changes relayed to it',
          );
        }
      },
    );
  }

  sendChange(change: MemoryChange): void {
    this.channel.sendChange(change);
  }

  /** A change from this worker was not valid. */
  refused(): void {
    this.invalid++;
    this.tell();
  }

  /** At most one message per change written: the counts add no backlog of their own. */
  private tell(): void {
    if ((this.dropped === 0 && this.invalid === 0) || this.channel.full) return;
    const { dropped, invalid } = this;
    this.dropped = 0;
    this.invalid = 0;
    this.worker.send({ type: UNCOUNTED, dropped, invalid }, undefined, undefined, ignore);
  }
}

interface PendingForget {
  readonly waiting: Set<number>;
  readonly outcomes: ForgetOutcome[];
  settle(outcome: ForgetOutcome | Error): void;
}

/** The primary's side: relays the workers' changes and sends forgets to every worker. */
export class ClusterMemory {
  private readonly pending = new Map<number, PendingForget>();
  /** By worker id: the changes relayed to it and not yet written. */
  private readonly outboxes = new Map<number, WorkerOutbox>();
  private nextId = 1;
  private invalid = 0;

  /**
   * @param workers every worker process alive
   * @param serving the workers serving checks now (a forget waits for each one's answer)
   * @param log told when a worker's channel is full and changes for it are dropped, and of a
   *   worker's first invalid change
   */
  constructor(
    private readonly workers: () => readonly Worker[],
    private readonly serving: () => readonly Worker[],
    private readonly log?: Logger,
  ) {}

  /** A worker is gone: its channel goes, and a forget no longer waits for it (its memory went). */
  onExit(worker: Worker): void {
    this.outboxes.delete(worker.id);
    for (const pending of this.pending.values()) {
      if (pending.waiting.delete(worker.id) && pending.waiting.size === 0) {
        pending.settle(combine(pending.outcomes));
      }
    }
  }

  /** Handles a worker's message if it is one of ours; true when it was. */
  onMessage(from: Worker, message: unknown): boolean {
    const changed = messageOf(message, CHANGE);
    if (changed) {
      const change = parseMemoryChange(changed['change']);
      if (!change) {
        if (this.invalid++ === 0) {
          this.log?.warn({ worker: from.id }, 'verdict memory: a worker sent an invalid change');
        }
        this.outboxOf(from).refused();
        return true;
      }
      for (const worker of this.workers()) {
        if (worker !== from && worker.isConnected()) this.outboxOf(worker).sendChange(change);
      }
      return true;
    }
    const forgotten = messageOf(message, FORGOTTEN);
    if (!forgotten) return false;
    const pending = this.pending.get(Number(forgotten['id']));
    const outcome = forgotten['outcome'];
    if (!pending || !isOutcome(outcome) || !pending.waiting.delete(from.id)) return true;
    pending.outcomes.push(outcome);
    if (pending.waiting.size === 0) pending.settle(combine(pending.outcomes));
    return true;
  }

  private outboxOf(worker: Worker): WorkerOutbox {
    let outbox = this.outboxes.get(worker.id);
    if (!outbox) {
      outbox = new WorkerOutbox(worker, this.log);
      this.outboxes.set(worker.id, outbox);
    }
    return outbox;
  }

  /**
   * Forgets on every serving worker. Each holds a copy of the shared memory, so the count is the
   * most any one forgot; a worker's refusal (a site not served) refuses the request.
   * @throws when no worker serves, or one does not answer in time
   */
  forget(request: ForgetRequest): Promise<ForgetOutcome> {
    const workers = this.serving().filter(worker => worker.isConnected());
    if (workers.length === 0) return Promise.reject(new Error('no worker is serving'));
    const id = this.nextId++;
    return new Promise<ForgetOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        const late = this.pending.get(id)?.waiting.size ?? 0;
        settle(new Error(`${late} of ${workers.length} workers did not answer the forget`));
      }, FORGET_TIMEOUT_MS);
      const settle = (outcome: ForgetOutcome | Error): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      this.pending.set(id, { waiting: new Set(workers.map(w => w.id)), outcomes: [], settle });
      const body = forgetBody(request);
      // A worker that cannot be sent to does not answer: the forget fails at the timeout.
      for (const worker of workers)
        worker.send({ type: FORGET, id, body }, undefined, undefined, ignore);
    });
  }
}

function isOutcome(value: unknown): value is ForgetOutcome {
  if (typeof value !== 'object' || value === null) return false;
  const { forgotten, refused } = value as Record<string, unknown>;
  return (typeof forgotten === 'number' && forgotten >= 0) || typeof refused === 'string';
}

function combine(outcomes: readonly ForgetOutcome[]): ForgetOutcome {
  let forgotten = 0;
  for (const outcome of outcomes) {
    if ('refused' in outcome) return outcome;
    forgotten = Math.max(forgotten, outcome.forgotten);
  }
  return { forgotten };
}

function ignore(): void {}
