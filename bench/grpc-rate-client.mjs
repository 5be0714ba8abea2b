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
import { CHECK_PATH, checkRequestObject, loadExtAuthz } from './realistic-request.mjs';

const options = {
  rate: 1000,
  durationS: 10,
  warmupS: 1,
  hangRate: 0,
  deadlineMs: 200,
  channels: 1,
  ...JSON.parse(process.argv[2] ?? '{}'),
};

const { check } = loadExtAuthz();
const messages = {
  normal: check.requestSerialize(checkRequestObject()),
  hang: check.requestSerialize(checkRequestObject({ hang: true })),
};
// The request is serialized once; answers are decoded with our CheckResponse type.
const Client = grpc.makeGenericClientConstructor({
  Check: {
    path: CHECK_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: buffer => buffer,
    requestDeserialize: buffer => buffer,
    responseSerialize: check.responseSerialize,
    responseDeserialize: check.responseDeserialize,
  },
});
const clients = Array.from(
  { length: options.channels },
  (_, i) =>
    new Client(options.target, grpc.credentials.createInsecure(), {
      'grpc.bench_channel': i, // distinct options: one connection per client
    }),
);
await Promise.all(
  clients.map(
    client =>
      new Promise((resolve, reject) =>
        client.waitForReady(Date.now() + 5000, err => (err ? reject(err) : resolve())),
      ),
  ),
);

function newRecord() {
  return { sent: 0, ok: 0, errors: {}, errorDetails: {}, latenciesMs: [], lagsMs: [] };
}

/** Sends at `rate` and `hangRate` for durationS seconds; resolves when every call is answered. */
function drive(durationS, record) {
  const kinds = { normal: newRecord(), hang: newRecord() };
  const rates = { normal: options.rate, hang: options.hangRate };
  let inFlight = 0;
  let done = false;
  let next = 0;
  const start = performance.now();
  const end = start + durationS * 1000;
  return new Promise(resolve => {
    const send = (kind, scheduledAt) => {
      const stats = kinds[kind];
      stats.sent++;
      inFlight++;
      const client = clients[next++ % clients.length];
      const issuedAt = performance.now();
      if (record) stats.lagsMs.push(issuedAt - scheduledAt);
      const callOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
      client.Check(messages[kind], callOptions, (err, res) => {
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
      for (const kind of ['normal', 'hang']) {
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

function percentiles(values) {
  if (values.length === 0) return {};
  const sorted = Float64Array.from(values).sort();
  const at = q => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) };
}

function round(ms) {
  return Math.round(ms * 1000) / 1000;
}

function summary(stats, durationS) {
  return {
    sent: stats.sent,
    ok: stats.ok,
    errors: stats.errors,
    ...(stats.ok < stats.sent ? { errorDetails: stats.errorDetails } : {}),
    ratePerS: round(stats.sent / durationS),
    latencyMs: percentiles(stats.latenciesMs),
    scheduleLagMs: percentiles(stats.lagsMs),
  };
}

if (options.warmupS > 0) await drive(options.warmupS, false);
const started = performance.now();
const kinds = await drive(options.durationS, true);
const result = {
  options,
  elapsedS: round((performance.now() - started) / 1000),
  normal: summary(kinds.normal, options.durationS),
  ...(options.hangRate ? { hang: summary(kinds.hang, options.durationS) } : {}),
};
for (const client of clients) client.close();
console.log(JSON.stringify(result));
// A channel still reconnecting (server gone) would keep the process alive.
process.exit(0);
