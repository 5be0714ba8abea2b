// Bounded work per HTTP connection: at most MAX_CHECKS_PER_CONNECTION checks in progress on one
// connection; requests pipelined past that wait in a short line and start as earlier checks
// finish (answers still leave in request order: Node queues them). A connection that pipelines
// past its line, or while every line in the process is full, is closed.
//
// Why a line and a close rather than only socket.pause(): Node's HTTP server parses a whole read
// (up to 64 KiB, ~1,000 small requests) before anything can pause it, and resumes a paused socket
// itself after every parsed request (parserOnMessageComplete → readStart) unless its private
// `_paused` flag is set. Proxies never pipeline on upstream connections, so they never wait here.

/** Checks one HTTP connection may have in progress at once. */
export const MAX_CHECKS_PER_CONNECTION = 4;
/** Requests one connection may have parsed and waiting behind those; past it, it is closed. */
export const MAX_WAITING_PER_CONNECTION = 64;
/** Waiting requests across all connections of the process; past it, the connection is closed. */
export const MAX_WAITING_PER_PROCESS = 1024;

/** What the gate needs of a connection (a net.Socket). */
export interface GatedConnection {
  readonly destroyed: boolean;
  destroy(): void;
}

/** A check to run; `queued`: its answer waits behind another on the same connection. */
export type GatedCheck = (queued: boolean) => Promise<void>;

interface ConnectionWork {
  running: number;
  readonly waiting: GatedCheck[];
}

export class PipelineGate {
  private readonly connections = new WeakMap<GatedConnection, ConnectionWork>();
  private waitingTotal = 0;

  /** @param onOverflow called once per connection closed for pipelining past the bounds. */
  constructor(private readonly onOverflow: () => void) {}

  /** Requests waiting for their connection's checks to finish, in the whole process. */
  get waiting(): number {
    return this.waitingTotal;
  }

  /**
   * Runs `check` now when the connection has room, later when one of its checks finishes, or
   * never when the connection is closed for pipelining too far ahead. `check` must not reject.
   */
  admit(socket: GatedConnection, check: GatedCheck): void {
    if (socket.destroyed) return;
    let work = this.connections.get(socket);
    if (!work) {
      work = { running: 0, waiting: [] };
      this.connections.set(socket, work);
    }
    if (work.running < MAX_CHECKS_PER_CONNECTION) {
      this.run(socket, work, check, work.running > 0);
      return;
    }
    if (
      work.waiting.length >= MAX_WAITING_PER_CONNECTION ||
      this.waitingTotal >= MAX_WAITING_PER_PROCESS
    ) {
      this.drop(work);
      socket.destroy();
      this.onOverflow();
      return;
    }
    work.waiting.push(check);
    this.waitingTotal++;
  }

  /** `queued`: checks that started earlier may not have had their answers written yet. */
  private run(
    socket: GatedConnection,
    work: ConnectionWork,
    check: GatedCheck,
    queued: boolean,
  ): void {
    work.running++;
    void check(queued).finally(() => {
      work.running--;
      if (socket.destroyed) {
        this.drop(work);
        return;
      }
      const next = work.waiting.shift();
      if (next === undefined) return;
      this.waitingTotal--;
      this.run(socket, work, next, true);
    });
  }

  private drop(work: ConnectionWork): void {
    this.waitingTotal -= work.waiting.length;
    work.waiting.length = 0;
  }
}
