// @ts-check
// Closed-loop load of the challenge phase: a list of page-load variants (the same allow, page or
// pass request again and again, or one verify request per solved token) sent to our server over
// gRPC (grpc-js Check calls, as Envoy sends them) or HTTP (forward auth, as Traefik and Caddy send
// them), a fixed number in flight, each answer checked against the status expected. h2load and
// wrk send one body or one set of headers; a verify request must differ in every check.
//
//   node bench/challenge-client.mjs '{"transport":"grpc","port":9001,"requestsFile":"…",
//     "expectStatus":302,"warmup":1000,"checks":5000,"inFlight":128,"channels":4,"serverPid":123}'
//
// requestsFile: a JSON array of realistic-request variants, sent in order and from the start
// again when used up: the warm-up first, then the measured checks. expectStatus: the HTTP status
// the client would get (gRPC: 200 for OK, else denied_response's). serverPid: the server's CPU
// time is read from /proc right before and right after the measured checks, so that starting
// this process and the warm-up are not in it. Prints one JSON line (ChallengeLoad).

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import { cpuSeconds } from './lib/observe.mjs';
import { percentilesOf, round3 } from './lib/stats.mjs';
import {
  FORWARD_AUTH_PATH,
  checkRequestObject,
  forwardAuthHeaders,
  loadExtAuthz,
  preSerializedCheckClient,
} from './realistic-request.mjs';

/**
 * @typedef {object} Options
 * @property {'grpc' | 'http'} transport
 * @property {number} port our gRPC or HTTP port on 127.0.0.1
 * @property {string} requestsFile
 * @property {number} expectStatus
 * @property {number} warmup checks before the measured ones
 * @property {number} checks measured
 * @property {number} inFlight
 * @property {number} channels gRPC connections (inFlight is spread over them)
 * @property {number} serverPid
 */

/**
 * @typedef {object} ChallengeLoad what this client prints
 * @property {number} done measured checks answered
 * @property {number} expected of them, answered with expectStatus
 * @property {Record<string, number>} unexpected the others, by status or gRPC error
 * @property {number} elapsedS
 * @property {number} reqPerS
 * @property {number} serverCpuS the server's CPU time during the measured checks
 * @property {Partial<import('./lib/stats.mjs').Percentiles>} latencyMs
 */

/** @typedef {import('./realistic-request.mjs').Variant} Variant */
/** Sends the variant of that index; resolves with the status. @typedef {(index: number) => Promise<string>} Send */

const USAGE = `usage: node bench/challenge-client.mjs '{"transport":"grpc|http","port":N,"requestsFile":"…","expectStatus":N,"warmup":N,"checks":N,"inFlight":N,"channels":N,"serverPid":N}'`;

/** The JSON argument; a bad one ends the process with the usage. @returns {Options} */
function readOptions() {
  /** @type {Record<string, unknown>} */
  let given = {};
  try {
    given = JSON.parse(process.argv[2] ?? '');
  } catch {
    // The check below reports it.
  }
  const counts = ['port', 'expectStatus', 'warmup', 'checks', 'inFlight', 'channels', 'serverPid'];
  const valid =
    typeof given === 'object' &&
    given !== null &&
    (given['transport'] === 'grpc' || given['transport'] === 'http') &&
    typeof given['requestsFile'] === 'string' &&
    counts.every(key => Number.isSafeInteger(given[key]) && Number(given[key]) >= 0) &&
    Number(given['checks']) > 0 &&
    Number(given['inFlight']) > 0 &&
    Number(given['channels']) > 0;
  if (!valid) {
    console.error(`${USAGE}\ngot ${process.argv[2]}`);
    process.exit(2);
  }
  return /** @type {Options} */ (/** @type {unknown} */ (given));
}

/**
 * grpc-js Check calls spread over `channels` connections, each request serialized beforehand;
 * resolves with the status the client would get ('200' for OK), or the gRPC error's name.
 * @param {Options} options
 * @param {Variant[]} variants
 * @returns {Promise<{ send: Send, close: () => void }>}
 */
async function grpcSender(options, variants) {
  const { check } = loadExtAuthz();
  const messages = variants.map(variant => check.requestSerialize(checkRequestObject(variant)));
  const Client = preSerializedCheckClient();
  const clients = Array.from({ length: options.channels }, (_, i) => {
    const client = new Client(`127.0.0.1:${options.port}`, grpc.credentials.createInsecure(), {
      'grpc.bench_channel': i, // distinct options: one connection per client
    });
    return client;
  });
  await Promise.all(
    clients.map(
      client =>
        /** @type {Promise<void>} */ (
          new Promise((resolve, reject) =>
            client.waitForReady(Date.now() + 5000, err => (err ? reject(err) : resolve())),
          )
        ),
    ),
  );
  let next = 0;
  /** @type {Send} */
  const send = index =>
    new Promise(resolve => {
      const client = /** @type {grpc.Client} */ (clients[next++ % clients.length]);
      /** @type {any} the generic client's method */
      const call = client;
      call['Check'](
        messages[index],
        (/** @type {grpc.ServiceError | null} */ err, /** @type {any} */ res) => {
          if (err) resolve(grpc.status[err.code] ?? `grpc_${err.code}`);
          else if (res?.status?.code === 0) resolve('200');
          else resolve(String(res?.denied_response?.status?.code ?? `grpc_${res?.status?.code}`));
        },
      );
    });
  return { send, close: () => clients.forEach(client => client.close()) };
}

/**
 * Forward-auth requests on `inFlight` keep-alive connections; resolves with the status.
 * @param {Options} options
 * @param {Variant[]} variants
 * @returns {{ send: Send, close: () => Promise<void> }}
 */
function httpSender(options, variants) {
  const pool = new Pool(`http://127.0.0.1:${options.port}`, { connections: options.inFlight });
  const headers = variants.map(variant => forwardAuthHeaders(variant));
  /** @type {Send} */
  const send = async index => {
    try {
      const { statusCode, body } = await pool.request({
        path: FORWARD_AUTH_PATH,
        method: 'GET',
        headers: headers[index],
      });
      await body.dump();
      return String(statusCode);
    } catch (err) {
      return err instanceof Error && 'code' in err ? String(err.code) : 'error';
    }
  };
  return { send, close: () => pool.close() };
}

/**
 * Sends `count` checks of the `total` variants (from index `from`, wrapping), `inFlight` at a
 * time.
 * @param {Send} send
 * @param {number} total
 * @param {number} from
 * @param {number} count
 * @param {number} inFlight
 */
async function drive(send, total, from, count, inFlight) {
  /** @type {Record<string, number>} */
  const statuses = {};
  /** @type {number[]} */
  const latenciesMs = [];
  let issued = 0;
  const worker = async () => {
    while (issued < count) {
      const index = (from + issued++) % total;
      const sentAt = performance.now();
      const status = await send(index);
      latenciesMs.push(performance.now() - sentAt);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return { statuses, latenciesMs };
}

const options = readOptions();
/** @type {Variant[]} */
const variants = JSON.parse(readFileSync(options.requestsFile, 'utf8'));
if (!Array.isArray(variants) || variants.length === 0) {
  console.error(`${options.requestsFile}: not a list of requests`);
  process.exit(2);
}
const sender =
  options.transport === 'grpc'
    ? await grpcSender(options, variants)
    : httpSender(options, variants);
if (options.warmup > 0) {
  await drive(sender.send, variants.length, 0, options.warmup, options.inFlight);
}
const cpuBefore = cpuSeconds(options.serverPid);
const started = performance.now();
const { statuses, latenciesMs } = await drive(
  sender.send,
  variants.length,
  options.warmup,
  options.checks,
  options.inFlight,
);
const elapsedS = (performance.now() - started) / 1000;
const serverCpuS = cpuSeconds(options.serverPid) - cpuBefore;
const expectedKey = String(options.expectStatus);
/** @type {ChallengeLoad} */
const result = {
  done: options.checks,
  expected: statuses[expectedKey] ?? 0,
  unexpected: Object.fromEntries(Object.entries(statuses).filter(([key]) => key !== expectedKey)),
  elapsedS: round3(elapsedS),
  reqPerS: round3(options.checks / elapsedS),
  serverCpuS: round3(serverCpuS),
  latencyMs: percentilesOf(latenciesMs),
};
await sender.close();
console.log(JSON.stringify(result));
process.exit(0);
