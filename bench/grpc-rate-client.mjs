// @ts-check
// Open-loop gRPC load at a fixed rate with a grpc-js client that checks every answer: sends the
// realistic CheckRequest (and, at hangRate, the variant the RTI stand-in never answers) on a
// schedule that does not wait for answers, and records each call's latency from the moment it
// was issued to its callback. An answer counts as correct only when it is a CheckResponse with
// status.code 0 (allow): the server fails open, so even hung checks must be allowed.
//
//   node bench/grpc-rate-client.mjs '{"target":"127.0.0.1:9001","rate":2000,"durationS":10}'
//
// Options (JSON argument): target, rate (checks/s), durationS, warmupS (1, not recorded),
// hangRate (0), deadlineMs (200, Envoy's default ext_authz timeout), channels (1).
// Prints one JSON line: per kind (normal, hang) the counts, errors and latency percentiles.

import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import * as grpc from '@grpc/grpc-js';
import { percentilesOf, round3 } from './lib/stats.mjs';
import { CHECK_PATH, checkRequestObject, loadExtAuthz } from './realistic-request.mjs';

/**
 * @typedef {object} Options
 * @property {string} target host:port
 * @property {number} rate checks/s
 * @property {number} durationS
 * @property {number} warmupS
 * @property {number} hangRate
 * @property {number} deadlineMs
 * @property {number} channels
 */
/** @typedef {'normal' | 'hang'} Kind */
/**
 * @typedef {object} KindRecord
 * @property {number} sent
 * @property {number} ok
 * @property {Record<string, number>} errors
 * @property {Record<string, string>} errorDetails
 * @property {number[]} latenciesMs
 * @property {number[]} lagsMs
 */

/** The JSON argument over the defaults; a bad one ends the process with its reason. */
function readOptions() {
  /** @type {unknown} */
  let given;
  try {
    given = JSON.parse(process.argv[2] ?? '{}');
  } catch (err) {
    given = err instanceof Error ? err.message : err;
  }
  /** @type {Options} */
  const options = {
    target: '',
    rate: 1000,
    durationS: 10,
    warmupS: 1,
    hangRate: 0,
    deadlineMs: 200,
    channels: 1,
    ...(typeof given === 'object' ? given : {}),
  };
  const numbers = Object.entries(options).filter(([key]) => key !== 'target');
  if (
    typeof given !== 'object' ||
    !options.target ||
    numbers.some(([, value]) => typeof value !== 'number' || !(value >= 0))
  ) {
    console.error(
      `usage: node bench/grpc-rate-client.mjs '{"target":"127.0.0.1:9001","rate":2000,"durationS":10}' (numbers ≥ 0); got ${JSON.stringify(given)}`,
    );
    process.exit(2);
  }
  return options;
}

const options = readOptions();

const { check } = loadExtAuthz();
const messages = {
  normal: check.requestSerialize(checkRequestObject()),
  hang: check.requestSerialize(checkRequestObject({ hang: true })),
};
// The request is serialized once; answers are decoded with our CheckResponse type.
const Client = grpc.makeGenericClientConstructor(
  {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: /** @param {Buffer} buffer */ buffer => buffer,
      requestDeserialize: /** @param {Buffer} buffer */ buffer => buffer,
      responseSerialize: check.responseSerialize,
      responseDeserialize: check.responseDeserialize,
    },
  },
  'envoy.service.auth.v3.Authorization',
);
/**
 * @typedef {(message: Buffer, options: grpc.CallOptions,
 *   callback: (err: grpc.ServiceError | null, res?: import('./realistic-request.mjs').CheckResponse) => void) => void} CheckMethod
 */
const clients = Array.from({ length: options.channels }, (_, i) => {
  const client = new Client(options.target, grpc.credentials.createInsecure(), {
    'grpc.bench_channel': i, // distinct options: one connection per client
  });
  return { client, check: /** @type {CheckMethod} */ (client['Check']).bind(client) };
});
await Promise.all(
  clients.map(
    ({ client }) =>
      /** @type {Promise<void>} */ (
        new Promise((resolve, reject) =>
          client.waitForReady(Date.now() + 5000, err => (err ? reject(err) : resolve())),
        )
      ),
  ),
);

/** @returns {KindRecord} */
function newRecord() {
  return { sent: 0, ok: 0, errors: {}, errorDetails: {}, latenciesMs: [], lagsMs: [] };
}

/**
 * Sends at `rate` and `hangRate` for durationS seconds; resolves when every call is answered.
 * @param {number} durationS
 * @param {boolean} record whether latencies are kept (not during the warm-up)
 * @returns {Promise<Record<Kind, KindRecord>>}
 */
function drive(durationS, record) {
  /** @type {Record<Kind, KindRecord>} */
  const kinds = { normal: newRecord(), hang: newRecord() };
  /** @type {Record<Kind, number>} */
  const rates = { normal: options.rate, hang: options.hangRate };
  let inFlight = 0;
  let done = false;
  let next = 0;
  const start = performance.now();
  const end = start + durationS * 1000;
  return new Promise(resolve => {
    /** @param {Kind} kind @param {number} scheduledAt */
    const send = (kind, scheduledAt) => {
      const stats = kinds[kind];
      stats.sent++;
      inFlight++;
      const { check: call } = /** @type {(typeof clients)[number]} */ (
        clients[next++ % clients.length]
      );
      const issuedAt = performance.now();
      if (record) stats.lagsMs.push(issuedAt - scheduledAt);
      const callOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
      call(messages[kind], callOptions, (err, res) => {
        const latencyMs = performance.now() - issuedAt;
        inFlight--;
        if (err) {
          const name = grpc.status[err.code] ?? String(err.code);
          stats.errors[name] = (stats.errors[name] ?? 0) + 1;
          stats.errorDetails[name] ??= err.details;
        } else if (res?.status?.code !== 0) {
          const name = `status_${res?.status?.code ?? 'missing'}`;
          stats.errors[name] = (stats.errors[name] ?? 0) + 1;
        } else {
          stats.ok++;
        }
        if (record) stats.latenciesMs.push(latencyMs);
        if (done && inFlight === 0) resolve(kinds);
      });
    };
    const tick = () => {
      const now = Math.min(performance.now(), end);
      for (const kind of /** @type {Kind[]} */ (['normal', 'hang'])) {
        const rate = rates[kind];
        if (!rate) continue;
        const due = Math.floor(((now - start) / 1000) * rate);
        while (kinds[kind].sent < due) send(kind, start + (kinds[kind].sent / rate) * 1000);
      }
      if (now < end) setTimeout(tick, 1);
      else {
        done = true;
        if (inFlight === 0) resolve(kinds);
      }
    };
    tick();
  });
}

/** @param {KindRecord} stats @param {number} durationS */
function summary(stats, durationS) {
  return {
    sent: stats.sent,
    ok: stats.ok,
    errors: stats.errors,
    ...(stats.ok < stats.sent ? { errorDetails: stats.errorDetails } : {}),
    ratePerS: round3(stats.sent / durationS),
    latencyMs: percentilesOf(stats.latenciesMs),
    scheduleLagMs: percentilesOf(stats.lagsMs),
  };
}

if (options.warmupS > 0) await drive(options.warmupS, false);
const started = performance.now();
const kinds = await drive(options.durationS, true);
const result = {
  options,
  elapsedS: round3((performance.now() - started) / 1000),
  normal: summary(kinds.normal, options.durationS),
  ...(options.hangRate ? { hang: summary(kinds.hang, options.durationS) } : {}),
};
for (const { client } of clients) client.close();
console.log(JSON.stringify(result));
// A channel still reconnecting (server gone) would keep the process alive.
process.exit(0);
