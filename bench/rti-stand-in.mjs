// @ts-check
// RTI stand-in for the bench: node:http answering the RTI v4 contract (JSON POST to
// /defend/4.0/traffic → v4 JSON verdict) and the v1 one (any other POST, the form to
// /v1/realtime-interception → v1 JSON verdict) after a fixed latency, keep-alive. Requests whose
// body (form or JSON) contains the hang marker (User-Agent of the hang scenario) are never answered;
// those with the suspicious marker (challenge phase) get a suspicious verdict (code 4, a VPN).
// The memory phase's visitors are told apart by client IP (lib/population.mjs): bots get a
// malicious verdict, people a benign one, whatever BENCH_RTI_VERDICT says.
//
// Settings (node bench/run.mjs --help): BENCH_RTI_PORT, BENCH_RTI_LATENCY_MS, BENCH_RTI_VERDICT
// (valid: v1 isInvalid false, v4 benign, code 0; invalid: v1 isInvalid true, v4 malicious,
// code 2), BENCH_RTI_HANG (marked, all or none: which requests hang).
// Prints {"ready":"rti-stand-in","port":N,"controlPort":M} once listening. GET /stats (on either
// port) answers the counters (verdicts answered, bots and people among them, hung, v4: the POSTs
// of either kind to /defend/4.0/traffic), and how long each hung request was held open (until
// the client aborted it) since the last GET: the RTI side's view of when a server gave up on RTI,
// without the load client's own delays.
//
// The control port switches the RTI port at run time, answering once done: POST /mode/refuse
// closes it and every connection (connection refused), POST /mode/hang accepts every request
// and never answers it, POST /mode/serve answers again (listening on the same port).

import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { readKnobsOrExit } from './lib/knobs.mjs';
import { kindOfRtiCall } from './lib/population.mjs';
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
const V1_SUSPICIOUS = v1Answer(true, 4);
/** v4's answer, malicious or benign. @param {boolean} invalid */
const v4Answer = invalid =>
  answerOf({
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
/** @type {Record<'v1' | 'v4', Record<'valid' | 'invalid', Answer>>} */
const ANSWERS = {
  v1: { valid: v1Answer(false, 0), invalid: v1Answer(true, 2) },
  v4: { valid: v4Answer(false), invalid: v4Answer(true) },
};
const stats = { verdicts: 0, bots: 0, people: 0, hung: 0, other: 0, aborted: 0, v4: 0 };
/** What the RTI port does now (the control port switches it). @type {'serve' | 'refuse' | 'hang'} */
let mode = 'serve';
/** Milliseconds from a hung request's complete arrival to its connection closing. @type {number[]} */
let heldMs = [];

/**
 * GET /stats: the counters, and the hung requests' times since the last GET.
 * @param {import('node:http').ServerResponse} res
 */
function answerStats(res) {
  stats.other++;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ...stats, heldMs }));
  heldMs = [];
}

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    answerStats(res);
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
    const hang =
      mode === 'hang' ||
      hangMode === 'all' ||
      (hangMode === 'marked' && body.includes(HANG_MARKER));
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
    const kind = kindOfRtiCall(body);
    if (kind === 'bot') stats.bots++;
    else if (kind === 'person') stats.people++;
    // A bot is malicious and a person benign whatever BENCH_RTI_VERDICT says.
    const malicious = kind === 'bot' || (kind === undefined && invalid);
    const verdict = body.includes(SUSPICIOUS_MARKER)
      ? v4
        ? V4_SUSPICIOUS
        : V1_SUSPICIOUS
      : ANSWERS[v4 ? 'v4' : 'v1'][malicious ? 'invalid' : 'valid'];
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

/**
 * Switches the RTI port; resolves once it is done (refused: no listener and no connection left;
 * served: listening again on `port`).
 * @param {'serve' | 'refuse' | 'hang'} next
 * @param {number} port
 * @returns {Promise<void>}
 */
async function switchTo(next, port) {
  const listening = server.listening;
  mode = next;
  if (next === 'refuse' && listening) {
    const closed = new Promise(resolve => server.close(resolve));
    server.closeAllConnections();
    await closed;
  } else if (next !== 'refuse' && !listening) {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve(undefined);
      });
    });
  }
}

/** @param {number} port the RTI port */
function controlServer(port) {
  return createServer((req, res) => {
    const next = /^\/mode\/(serve|refuse|hang)$/.exec(req.url ?? '')?.[1];
    if (req.method === 'POST' && (next === 'serve' || next === 'refuse' || next === 'hang')) {
      req.resume();
      switchTo(next, port).then(
        () => res.end(JSON.stringify({ mode })),
        (/** @type {unknown} */ err) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.method === 'GET' && req.url === '/stats') {
      answerStats(res);
    } else {
      res.writeHead(404);
      res.end('POST /mode/serve|refuse|hang or GET /stats\n');
    }
  });
}

server.listen(knobs.rtiPort, '127.0.0.1', () => {
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  const control = controlServer(port);
  control.listen(0, '127.0.0.1', () => {
    const { port: controlPort } = /** @type {import('node:net').AddressInfo} */ (control.address());
    console.log(JSON.stringify({ ready: 'rti-stand-in', port, controlPort, latencyMs }));
  });
  process.on('SIGTERM', () => {
    control.close();
    server.closeAllConnections();
    if (server.listening) server.close(() => process.exit(0));
    else process.exit(0);
  });
});
