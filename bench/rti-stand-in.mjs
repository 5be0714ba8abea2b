// @ts-check
// RTI stand-in for the bench: node:http answering the RTI v4 contract (JSON POST to
// /defend/4.0/traffic → v4 JSON verdict) and the v1 one (any other POST, the form to
// /v1/realtime-interception → v1 JSON verdict) after a fixed latency, keep-alive. Requests whose
// body (form or JSON) contains the hang marker (User-Agent of the hang scenario) are never answered;
// those with the suspicious marker (challenge phase) get a suspicious verdict (code 4, a VPN).
//
// Settings (node bench/run.mjs --help): BENCH_RTI_PORT, BENCH_RTI_LATENCY_MS, BENCH_RTI_VERDICT
// (valid: v1 isInvalid false, v4 benign, code 0; invalid: v1 isInvalid true, v4 malicious,
// code 2), BENCH_RTI_HANG (marked, all or none: which requests hang).
// Prints {"ready":"rti-stand-in","port":N} once listening. GET /stats answers the counters
// (verdicts answered, hung, v4: the POSTs of either kind to /defend/4.0/traffic), and
// how long each hung request was held open (until the client aborted it) since the last GET:
// the RTI side's view of when a server gave up on RTI, without the load client's own delays.

import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { readKnobsOrExit } from './lib/knobs.mjs';
import { HANG_MARKER, SUSPICIOUS_MARKER } from './realistic-request.mjs';

const knobs = readKnobsOrExit('rti-stand-in');
const latencyMs = knobs.rtiLatencyMs;
const hangMode = knobs.rtiHang;
const invalid = knobs.rtiVerdict === 'invalid';

const V4_PATH = '/defend/4.0/traffic';

/** v1's answer. @param {boolean} isInvalid @param {number} threatTypeCode */
const v1Answer = (isInvalid, threatTypeCode) =>
  answerOf({
    version: 1,
    isInvalid,
    threatTypeCode,
    requestId: 'bench-0123456789abcdef',
    setCookie: '_cheq_rti=Y2hlcS1jb29raWUtdmFsdWUtMTIzNDU2Nzg5MA; Path=/; Max-Age=31536000; Secure',
  });
const V1_ANSWER = v1Answer(invalid, invalid ? 2 : 0);
const V1_SUSPICIOUS = v1Answer(true, 4);
const V4_ANSWER = answerOf({
  metadata: {
    timestamp: 1_700_000_000_000,
    version: '4.0',
    tagName: 'bench',
    sessionFound: true,
  },
  decision: {
    verdict: invalid ? 'malicious' : 'benign',
    ruleName: invalid ? 'bench-block' : 'bench-allow',
    riskScore: invalid ? 90 : 3,
  },
  classification: invalid
    ? { code: 2, name: 'Scrapers', group: 'Invalid Bot Activity' }
    : { code: 0, name: 'Valid', group: 'Valid Traffic' },
  ids: {
    rayId: 'bench-ray-0123456789abcdef',
    pageViewId: 'bench-pvid-0123456789',
    duid: 'bench-duid-0123456789',
  },
  cheqDetection: {
    detectedClassificationCode: invalid ? 2 : 0,
    isAutomated: invalid,
    isProxy: false,
    reasons: invalid ? [201, 203] : [],
  },
});
const V4_SUSPICIOUS = answerOf({
  metadata: { timestamp: 1_700_000_000_000, version: '4.0', tagName: 'bench', sessionFound: true },
  decision: { verdict: 'suspicious', ruleName: 'bench-vpn', riskScore: 60 },
  classification: { code: 4, name: 'VPN', group: 'Invalid Suspicious Activity' },
  ids: {
    rayId: 'bench-ray-0123456789abcdef',
    pageViewId: 'bench-pvid-0123456789',
    duid: 'bench-duid-0123456789',
  },
  cheqDetection: { detectedClassificationCode: 4, isAutomated: false, isProxy: true, reasons: [] },
});
const stats = { verdicts: 0, hung: 0, other: 0, aborted: 0, v4: 0 };
/** Milliseconds from a hung request's complete arrival to its connection closing. @type {number[]} */
let heldMs = [];

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    stats.other++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...stats, heldMs }));
    heldMs = [];
    return;
  }
  const v4 = req.url?.endsWith(V4_PATH) === true;
  /** @type {Buffer[]} */
  const chunks = [];
  req.on('data', chunk => chunks.push(chunk));
  req.on('end', () => {
    // Counted with verdicts or hung, in the same tick: a /stats read sees both or neither.
    if (v4) stats.v4++;
    const body = Buffer.concat(chunks);
    const hang = hangMode === 'all' || (hangMode === 'marked' && body.includes(HANG_MARKER));
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
    const suspicious = body.includes(SUSPICIOUS_MARKER);
    const verdict = suspicious ? (v4 ? V4_SUSPICIOUS : V1_SUSPICIOUS) : v4 ? V4_ANSWER : V1_ANSWER;
    if (latencyMs > 0) setTimeout(answer, latencyMs, res, verdict);
    else answer(res, verdict);
  });
});

/** @typedef {{ bytes: Buffer, headers: Record<string, string | number> }} Answer */

/**
 * A verdict encoded once, with its response headers: the stand-in must cost next to nothing.
 * @param {object} body
 * @returns {Answer}
 */
function answerOf(body) {
  const bytes = Buffer.from(JSON.stringify(body));
  return { bytes, headers: { 'content-type': 'application/json', 'content-length': bytes.length } };
}

/** @param {import('node:http').ServerResponse} res @param {Answer} verdict */
function answer(res, verdict) {
  if (res.destroyed) return;
  res.writeHead(200, verdict.headers);
  res.end(verdict.bytes);
}

// Longer than the clients' own keep-alive, so the stand-in never closes a pooled connection.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.listen(knobs.rtiPort, '127.0.0.1', () => {
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  console.log(JSON.stringify({ ready: 'rti-stand-in', port, latencyMs }));
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
