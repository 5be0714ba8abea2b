// @ts-check
// Check calls sent the way Envoy's ext_authz gRPC client sends them, on node:http2 directly (a
// grpc-js client costs several times more CPU per call and cannot offer a flood past our capacity
// from the shared load core): each call a POST of a pre-framed CheckRequest with `grpc-timeout`;
// at most as many calls on a connection as the server's SETTINGS_MAX_CONCURRENT_STREAMS allow,
// more connections opened ahead for the rest (Envoy's HTTP/2 pool does the same), and at most
// `maxInFlight` calls in all (Envoy's cluster circuit breaker: the call past it is not sent, and
// Envoy fails it open). A call not answered within its deadline is reset with CANCEL and counted
// DEADLINE_EXCEEDED, as Envoy resets it and fails it open.

import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { clearInterval, setInterval, setTimeout } from 'node:timers';
import { CHECK_PATH } from '../realistic-request.mjs';

/** What an answer was: a CheckResponse allowing or denying, or a failure a proxy fails open. */
/** @typedef {'allowed' | 'blocked' | { error: string, detail?: string }} Outcome */

/** gRPC status names by code (the ones a Check can end with). */
const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];
/** How often calls past their deadline are reset (Envoy's timers are as fine). */
const DEADLINE_TICK_MS = 2;

/**
 * @typedef {object} SenderOptions
 * @property {number} [maxInFlight] calls in flight at most, over all connections (1024)
 * @property {number} [deadlineMs] each call's timeout, sent as grpc-timeout too (200)
 */

/**
 * @typedef {object} Call
 * @property {number} expiresAt performance.now() time
 * @property {http2.ClientHttp2Stream} stream
 * @property {Connection} connection
 * @property {((outcome: Outcome) => void) | undefined} settle undefined once settled
 */
/** @typedef {{ session: http2.ClientHttp2Session, inFlight: number, open: boolean }} Connection */

/**
 * Opens the connections to `target` (host:port); resolves once they are ready.
 * @param {string} target
 * @param {SenderOptions} [options]
 */
export async function envoyLikeSender(target, options = {}) {
  const maxInFlight = options.maxInFlight ?? 1024;
  const deadlineMs = options.deadlineMs ?? 200;
  /** Why connections closed (GOAWAY codes, errors), counted. @type {Record<string, number>} */
  const closes = {};
  /** @param {string} why */
  const closing = why => (closes[why] = (closes[why] ?? 0) + 1);
  let closed = false;
  /** A connection; when the server closes it, another replaces it, as in Envoy's pool. */
  const open = async () => {
    const connection = await connect(target);
    connection.session.on('goaway', code => {
      connection.open = false; // no new stream on it: the server is closing it
      closing(`goaway ${code}`);
    });
    connection.session.on('close', () => {
      connection.open = false;
      if (!closed) replace(connection);
    });
    return connection;
  };
  /** @param {Connection} old */
  const replace = old => {
    open().then(
      connection => {
        if (closed) connection.session.destroy();
        else connections[connections.indexOf(old)] = connection;
      },
      (/** @type {Error} */ err) => {
        closing(`reconnect: ${err.message}`);
        if (!closed) setTimeout(() => replace(old), 100);
      },
    );
  };
  const first = await open();
  const perConnection = Math.max(1, first.session.remoteSettings.maxConcurrentStreams ?? 100);
  const more = Math.ceil(maxInFlight / perConnection) - 1;
  const connections = [first, ...(await Promise.all(Array.from({ length: more }, open)))];
  const headers = {
    ':method': 'POST',
    ':path': CHECK_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${deadlineMs}m`,
  };
  /** Calls in the order sent: one deadline for all, so the oldest expires first. @type {Call[]} */
  let pending = [];
  let head = 0;
  let inFlight = 0;
  let next = 0;
  const expire = () => {
    const now = performance.now();
    while (head < pending.length && /** @type {Call} */ (pending[head]).expiresAt <= now) {
      const call = /** @type {Call} */ (pending[head++]);
      if (call.settle) {
        end(call, { error: 'DEADLINE_EXCEEDED' });
        call.stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    }
    if (head > 4096 && head * 2 > pending.length) {
      pending = pending.slice(head);
      head = 0;
    }
  };
  const timer = setInterval(expire, DEADLINE_TICK_MS);
  /** @param {Call} call @param {Outcome} outcome */
  const end = (call, outcome) => {
    const settle = call.settle;
    if (!settle) return;
    call.settle = undefined;
    call.connection.inFlight--;
    inFlight--;
    settle(outcome);
  };
  /** A connection with a free stream, round robin; undefined when every one is full. */
  const pick = () => {
    for (let tried = 0; tried < connections.length; tried++) {
      const connection = /** @type {Connection} */ (connections[next++ % connections.length]);
      if (connection.open && connection.inFlight < perConnection) return connection;
    }
    return undefined;
  };

  return {
    /** Calls in flight now. */
    get inFlight() {
      return inFlight;
    },
    /** Connections closed under it, by why. */
    closes,
    /**
     * Sends one framed CheckRequest; 'overflow' at once when maxInFlight calls are in flight.
     * @param {Buffer} frame
     * @returns {Promise<Outcome> | 'overflow'}
     */
    send(frame) {
      const connection = inFlight < maxInFlight ? pick() : undefined;
      if (!connection) return 'overflow';
      inFlight++;
      connection.inFlight++;
      return new Promise(resolve => {
        const stream = connection.session.request(headers);
        /** @type {Call} */
        const call = {
          expiresAt: performance.now() + deadlineMs,
          stream,
          connection,
          settle: resolve,
        };
        pending.push(call);
        /** @type {Buffer[]} */
        const chunks = [];
        /** @type {string | undefined} */
        let status;
        stream.on('response', h => {
          if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        });
        stream.on('trailers', t => {
          if (t['grpc-status'] !== undefined) status = String(t['grpc-status']);
        });
        stream.on('data', chunk => chunks.push(chunk));
        stream.on('error', () => undefined); // the outcome is read at close
        stream.on('close', () => {
          if (!call.settle) return;
          if (status === '0') {
            const code = statusCodeOf(Buffer.concat(chunks).subarray(5));
            end(call, code === 0 ? 'allowed' : 'blocked');
          } else {
            const name =
              status === undefined ? 'NO_STATUS' : (STATUS_NAMES[Number(status)] ?? status);
            end(call, { error: name, detail: `closed with rst code ${stream.rstCode}` });
          }
        });
        stream.end(frame);
      });
    },
    close() {
      closed = true;
      clearInterval(timer);
      for (const { session } of connections) session.destroy();
    },
  };
}

/**
 * @param {string} target
 * @returns {Promise<Connection>}
 */
function connect(target) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${target}`);
    session.once('error', reject);
    // Resolved once the server's SETTINGS are in: its stream limit is read from them.
    session.once('remoteSettings', () => {
      session.off('error', reject);
      session.on('error', () => undefined); // a closed session fails its calls, counted there
      resolve({ session, inFlight: 0, open: true });
    });
  });
}

/**
 * CheckResponse.status.code (google.rpc.Status, field 1 of field 1) read off the wire: 0 when
 * absent, as protobuf's default. Enough of protobuf's encoding for this one field.
 * @param {Buffer} message
 */
export function statusCodeOf(message) {
  const status = fieldOf(message, 1, 2);
  if (status === undefined) return 0;
  const code = fieldOf(status, 1, 0);
  return code === undefined ? 0 : Number(code);
}

/**
 * The value of the first field `number` of wire type `type` (0 varint: a number; 2
 * length-delimited: the bytes) at the top level of `bytes`; undefined when absent.
 * @param {Buffer} bytes
 * @param {number} number
 * @param {0 | 2} type
 * @returns {any}
 */
function fieldOf(bytes, number, type) {
  let at = 0;
  const varint = () => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = /** @type {number} */ (bytes[at++]);
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const wireType = key & 7;
    const field = Math.floor(key / 8);
    if (wireType === 0) {
      const value = varint();
      if (field === number && type === 0) return value;
    } else if (wireType === 2) {
      const length = varint();
      if (field === number && type === 2) return bytes.subarray(at, at + length);
      at += length;
    } else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else throw new Error(`CheckResponse: wire type ${wireType} not expected`);
  }
  return undefined;
}
