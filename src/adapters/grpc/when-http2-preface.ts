// Holds an accepted plaintext gRPC connection until its HTTP/2 client preface has arrived.
// grpc-js closes a connection that never sends one only when a keepalive ping goes
// unanswered (grpc_keepalive_time_ms + 20 s), which lets idle sockets hold max_connections.

import type { Socket } from 'node:net';

/** RFC 9113 §3.4: the client's connection preface starts with this, then a SETTINGS frame. */
const MAGIC = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER_BYTES = 9;
const SETTINGS_FRAME_TYPE = 0x4;
/** SETTINGS_MAX_FRAME_SIZE before any SETTINGS: a longer first frame is a protocol error. */
const INITIAL_MAX_FRAME_BYTES = 16_384;

/** The preface's length once `head` holds its frame header; undefined before; NaN if invalid. */
function prefaceLength(head: Buffer): number | undefined {
  const magic = Math.min(head.length, MAGIC.length);
  if (!head.subarray(0, magic).equals(MAGIC.subarray(0, magic))) return NaN;
  if (head.length < MAGIC.length + FRAME_HEADER_BYTES) return undefined;
  const payload = head.readUIntBE(MAGIC.length, 3);
  if (head[MAGIC.length + 3] !== SETTINGS_FRAME_TYPE || payload > INITIAL_MAX_FRAME_BYTES) {
    return NaN;
  }
  return MAGIC.length + FRAME_HEADER_BYTES + payload;
}

/**
 * Calls `accept` with the socket, its bytes read so far put back, once the whole client preface
 * has arrived within `timeoutMs`; destroys it instead when the time runs out or the bytes are
 * no preface (`rejected` says which).
 */
export function whenHttp2Preface(
  socket: Socket,
  timeoutMs: number,
  accept: (socket: Socket) => void,
  rejected: (reason: 'preface_timeout' | 'bad_preface') => void,
): void {
  let head = Buffer.alloc(0);
  const settle = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
  };
  const reject = (reason: 'preface_timeout' | 'bad_preface'): void => {
    settle();
    socket.destroy();
    rejected(reason);
  };
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const length = prefaceLength(head);
    if (Number.isNaN(length)) return reject('bad_preface');
    if (length === undefined || head.length < length) return;
    settle();
    // http2 reads what the socket buffered before it takes the socket over.
    socket.pause();
    socket.unshift(head);
    accept(socket);
  };
  // A reset before the hand-off: nothing to report, the socket is gone.
  const onError = (): void => settle();
  const timer = setTimeout(() => reject('preface_timeout'), timeoutMs);
  timer.unref();
  socket.on('data', onData);
  socket.on('error', onError);
  socket.once('close', () => clearTimeout(timer));
}
