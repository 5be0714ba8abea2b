// Connections to RTI opened before traffic (TCP and TLS, no request): the RTI pool's connector
// hands these out first, so the first checks after start do not pay for the handshakes inside
// their time budget. New connections share the same TLS session cache, so they resume sessions.

import type { Socket } from 'node:net';
import { buildConnector } from 'undici';

interface IdleSocket {
  readonly socket: Socket;
  readonly timer: NodeJS.Timeout;
  readonly dropped: () => void;
}

export class Preconnector {
  /** undici's default connector (as the pool would build it), shared for its TLS sessions. */
  private readonly connectTo = buildConnector({});
  private readonly idle = new Set<IdleSocket>();
  private closed = false;

  /**
   * @param origin the RTI origin, as the pool connects to it
   * @param maxIdleMs a connection no check took by then is closed (the pool's own keep-alive
   *   idle time: RTI is expected to keep an idle connection that long)
   */
  constructor(
    private readonly origin: URL,
    private readonly maxIdleMs: number,
  ) {}

  /** undici's `connect` option: a connection opened ahead when one is left, else a new one. */
  readonly connect: buildConnector.connector = (options, callback) => {
    for (const entry of this.idle) {
      this.release(entry);
      const { socket } = entry;
      if (socket.destroyed || !socket.writable) {
        socket.destroy();
        continue;
      }
      // Asynchronously, as undici's own connector answers: undici resumes its queue in there.
      queueMicrotask(() => callback(null, socket));
      return;
    }
    this.connectTo(options, callback);
  };

  /**
   * Opens `count` connections and keeps them for the pool. Resolves once each has connected or
   * failed, or after `timeoutMs`, with how many are open and the first failure.
   */
  async open(count: number, timeoutMs: number): Promise<{ opened: number; error?: Error }> {
    const { hostname, host, protocol, port } = this.origin;
    const options = { hostname: hostname.replace(/^\[|\]$/g, ''), host, protocol, port };
    let opened = 0;
    let error: Error | undefined;
    const attempts = Array.from(
      { length: count },
      () =>
        new Promise<void>(resolve => {
          this.connectTo(options, (err, socket) => {
            if (err) error ??= err;
            else if (this.keep(socket)) opened++;
            resolve();
          });
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>(resolve => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(attempts), timeout]);
    clearTimeout(timer);
    return error === undefined ? { opened } : { opened, error };
  }

  /** Closes the connections nobody took; later ones are closed as they connect. */
  close(): void {
    this.closed = true;
    for (const entry of this.idle) {
      this.release(entry);
      entry.socket.destroy();
    }
  }

  private keep(socket: Socket): boolean {
    if (this.closed || socket.destroyed) {
      socket.destroy();
      return false;
    }
    const entry: IdleSocket = {
      socket,
      timer: setTimeout(() => {
        this.release(entry);
        socket.destroy();
      }, this.maxIdleMs).unref(),
      dropped: () => this.release(entry),
    };
    // Flowing, so that RTI closing the idle connection is seen ('end', then 'close') and the
    // connection dropped instead of handed to a check; nothing else arrives on an idle one.
    socket.on('error', entry.dropped).on('close', entry.dropped).resume();
    this.idle.add(entry);
    return true;
  }

  private release(entry: IdleSocket): void {
    clearTimeout(entry.timer);
    entry.socket.off('error', entry.dropped).off('close', entry.dropped);
    this.idle.delete(entry);
  }
}
