// @ts-check
// Reference servers for the bench, written as plainly as possible: what the same runtime and
// libraries can do at best, so our numbers read as a share of a ceiling measured in the same run.
//
//   node bench/reference-servers.mjs grpc-bare     grpc-js Check answering OK, no I/O
//   node bench/reference-servers.mjs grpc-undici   grpc-js Check + one undici call to RTI, then OK
//   node bench/reference-servers.mjs http-bare     node:http answering 200, Content-Length 0
//   node bench/reference-servers.mjs http-undici   node:http + one undici call to RTI, then 200
//   node bench/reference-servers.mjs grpc-undici-v4   as grpc-undici, the call in RTI v4's JSON
//   node bench/reference-servers.mjs http-undici-v4   as http-undici, the call in RTI v4's JSON
//
// The undici kinds POST the v1 form to /v1/realtime-interception, the -v4 kinds the v4 JSON
// (rti-api.md §5) to /defend/4.0/traffic, and read the JSON answer either way.
//
// Settings: BENCH_PORT, BENCH_RTI_URL (for the undici kinds), BENCH_RTI_CONNECTIONS,
// BENCH_TIMEOUT_MS (failing open like ours): node bench/run.mjs --help. Prints
// {"ready":KIND,"port":N} once listening.

import { createServer } from 'node:http';
import { clearTimeout, setTimeout } from 'node:timers';
import { URLSearchParams } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import { readKnobsOrExit } from './lib/knobs.mjs';
import { loadExtAuthz } from './realistic-request.mjs';

const kind = process.argv[2];
const knobs = readKnobsOrExit('reference-servers');
const { port, timeoutMs } = knobs;
const OK = { status: { code: 0 } };

function rtiPool() {
  if (!knobs.rtiUrl) throw new Error('BENCH_RTI_URL is required');
  return new Pool(knobs.rtiUrl, {
    connections: knobs.rtiConnections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
  });
}

/**
 * @typedef {object} RtiRequest
 * @property {string} path
 * @property {string} contentType
 * @property {string} body
 */
/**
 * What a check says of the page load, from the CheckRequest or the auth_request headers.
 * @typedef {object} PageLoad
 * @property {string | undefined} method
 * @property {string | undefined} scheme
 * @property {string | undefined} host
 * @property {string | undefined} uri
 * @property {string | undefined} clientIp
 */
/**
 * Lower-case header names to values: node joins a request's repeated headers (set-cookie aside)
 * and the CheckRequest's are a map of strings.
 * @typedef {Record<string, string | undefined>} Headers
 */
/** @typedef {(headers: Headers, page: PageLoad) => RtiRequest} RtiCall */

/**
 * One RTI call under a deadline; any failure is ignored (fail open), as the server under test
 * does. undici's own headersTimeout/bodyTimeout are not used: they fire on a ~1 s clock.
 * @param {Pool} pool
 * @param {RtiRequest} request
 */
function callRti(pool, { path, contentType, body }) {
  const controller = new globalThis.AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  return pool
    .request({
      path,
      method: 'POST',
      headers: { 'content-type': contentType, accept: 'application/json' },
      body,
      signal: controller.signal,
    })
    .then(response => response.body.json())
    .catch(() => undefined)
    .finally(() => clearTimeout(timer));
}

/**
 * The v1 call: the form fields, read the plain way from a header record (lower-case names).
 * @type {RtiCall}
 */
function rtiV1Call(headers, { method, scheme, host, uri, clientIp }) {
  const fields = {
    ApiKey: 'bench-api-key',
    TagHash: 'bench-tag-hash',
    EventType: 'page_load',
    ClientIP: clientIp ?? '',
    RequestURL: `${scheme}://${host}${uri}`,
    RequestTime: String(Date.now()),
    Method: String(method),
    HeaderNames: Object.keys(headers)
      .filter(name => !name.startsWith(':') && !name.startsWith('x-original'))
      .join(','),
    Host: String(host),
    UserAgent: headers['user-agent'] ?? '',
    Accept: headers['accept'] ?? '',
    AcceptEncoding: headers['accept-encoding'] ?? '',
    AcceptLanguage: headers['accept-language'] ?? '',
    Referer: headers['referer'] ?? '',
    XForwardedFor: headers['x-forwarded-for'] ?? '',
    MiddlewareVersion: 'bench-reference_0',
  };
  return {
    path: '/v1/realtime-interception',
    contentType: 'application/x-www-form-urlencoded',
    body: new URLSearchParams(fields).toString(),
  };
}

/** The end-user headers the v4 call passes on: those the v1 call sends as fields, Host aside. */
const V4_HEADERS = [
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'referer',
  'x-forwarded-for',
];

/**
 * The v4 call (rti-api.md §5): JSON.stringify of the fields, read from the same header record.
 * @type {RtiCall}
 */
function rtiV4Call(headers, { method, scheme, host, uri, clientIp }) {
  /** @type {Headers} */
  const endUserHeaders = { host };
  for (const name of V4_HEADERS) {
    if (headers[name] !== undefined) endUserHeaders[name] = headers[name];
  }
  const body = {
    tagHash: 'bench-tag-hash',
    apiKey: 'bench-api-key',
    endUserParams: {
      clientIp,
      requestUrl: `${scheme}://${host}${uri}`,
      headerNames: Object.keys(headers)
        .filter(name => !name.startsWith(':') && !name.startsWith('x-original'))
        .join(','),
      method,
      headers: endUserHeaders,
    },
    isHeaderNamesOrdered: true,
    channel: 'bench-reference',
    customId1: 'page_load',
  };
  return {
    path: '/defend/4.0/traffic',
    contentType: 'application/json',
    body: JSON.stringify(body),
  };
}

/**
 * `rtiCall` (rtiV1Call or rtiV4Call) builds the one RTI call per check; none: answer at once.
 * @param {RtiCall | undefined} rtiCall
 */
function startGrpc(rtiCall) {
  const pool = rtiCall ? rtiPool() : undefined;
  const server = new grpc.Server();
  server.addService(loadExtAuthz().service, {
    /**
     * @param {grpc.ServerUnaryCall<any, typeof OK>} call
     * @param {grpc.sendUnaryData<typeof OK>} callback
     */
    Check(call, callback) {
      if (!pool || !rtiCall) return callback(null, OK);
      const http = call.request.attributes?.request?.http ?? {};
      const headers = http.headers ?? {};
      const rtiRequest = rtiCall(headers, {
        method: http.method,
        scheme: http.scheme,
        host: http.host,
        uri: http.path,
        clientIp: headers['x-envoy-external-address'],
      });
      void callRti(pool, rtiRequest).then(() => callback(null, OK));
    },
  });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) throw err;
    ready(bound);
  });
  process.on('SIGTERM', () => {
    server.forceShutdown();
    process.exit(0);
  });
}

/** @param {RtiCall | undefined} rtiCall */
function startHttp(rtiCall) {
  const pool = rtiCall ? rtiPool() : undefined;
  /** @param {import('node:http').ServerResponse} res */
  const answer = res => {
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  };
  const server = createServer((req, res) => {
    if (!pool || !rtiCall) return answer(res);
    const headers = /** @type {Headers} */ (req.headers);
    const rtiRequest = rtiCall(headers, {
      method: headers['x-original-method'],
      scheme: headers['x-forwarded-proto'] ?? 'http',
      host: headers['x-original-host'],
      uri: headers['x-original-uri'],
      clientIp: headers['x-real-ip'],
    });
    void callRti(pool, rtiRequest).then(() => answer(res));
  });
  server.keepAliveTimeout = 75_000;
  server.listen(port, '127.0.0.1', () =>
    ready(/** @type {import('node:net').AddressInfo} */ (server.address()).port),
  );
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

/** @param {number} boundPort */
function ready(boundPort) {
  console.log(JSON.stringify({ ready: kind, port: boundPort }));
}

switch (kind) {
  case 'grpc-bare':
    startGrpc(undefined);
    break;
  case 'grpc-undici':
    startGrpc(rtiV1Call);
    break;
  case 'grpc-undici-v4':
    startGrpc(rtiV4Call);
    break;
  case 'http-bare':
    startHttp(undefined);
    break;
  case 'http-undici':
    startHttp(rtiV1Call);
    break;
  case 'http-undici-v4':
    startHttp(rtiV4Call);
    break;
  default:
    console.error(
      'usage: node bench/reference-servers.mjs grpc-bare|grpc-undici|grpc-undici-v4|http-bare|http-undici|http-undici-v4',
    );
    process.exit(2);
}
