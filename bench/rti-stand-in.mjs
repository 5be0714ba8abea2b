// RTI stand-in for the bench: node:http answering the RTI v1 contract (form POST to
// /v1/realtime-interception → JSON verdict) after a fixed latency, keep-alive. Requests whose
// form contains the hang marker (User-Agent of the hang scenario) are never answered.
//
// Environment: BENCH_RTI_PORT (0), BENCH_RTI_LATENCY_MS (2), BENCH_RTI_VERDICT (valid | invalid),
// BENCH_RTI_HANG (marked | all | none: which requests hang; marked by default).
// Prints {"ready":"rti-stand-in","port":N} once listening. GET /stats answers the counters, and
// how long each hung request was held open (until the client aborted it) since the last GET:
// the RTI side's view of when a server gave up on RTI, without the load client's own delays.

import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { HANG_MARKER } from './realistic-request.mjs';

const latencyMs = Number(process.env.BENCH_RTI_LATENCY_MS ?? 2);
const hangMode = process.env.BENCH_RTI_HANG ?? 'marked';
const invalid = process.env.BENCH_RTI_VERDICT === 'invalid';

const VERDICT = Buffer.from(
  JSON.stringify({
    version: 1,
    isInvalid: invalid,
    threatTypeCode: invalid ? 2 : 0,
    requestId: 'bench-0123456789abcdef',
    setCookie: '_cheq_rti=Y2hlcS1jb29raWUtdmFsdWUtMTIzNDU2Nzg5MA; Path=/; Max-Age=31536000; Secure',
  }),
);
const HEADERS = { 'content-type': 'application/json', 'content-length': VERDICT.length };
const stats = { verdicts: 0, hung: 0, other: 0, aborted: 0 };
/** Milliseconds from a hung request's complete arrival to its connection closing. */
let heldMs = [];

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    stats.other++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...stats, heldMs }));
    heldMs = [];
    return;
  }
  const chunks = [];
  req.on('data', chunk => chunks.push(chunk));
  req.on('end', () => {
    const hang =
      hangMode === 'all' || (hangMode === 'marked' && Buffer.concat(chunks).includes(HANG_MARKER));
    if (hang) {
      stats.hung++;
      const arrived = performance.now();
      res.on('close', () => {
        stats.aborted++;
        heldMs.push(performance.now() - arrived);
      });
      return;
    }
    stats.verdicts++;
    if (latencyMs > 0) setTimeout(answer, latencyMs, res);
    else answer(res);
  });
});

function answer(res) {
  if (res.destroyed) return;
  res.writeHead(200, HEADERS);
  res.end(VERDICT);
}

// Longer than the clients' own keep-alive, so the stand-in never closes a pooled connection.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.listen(Number(process.env.BENCH_RTI_PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ ready: 'rti-stand-in', port: server.address().port, latencyMs }));
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
