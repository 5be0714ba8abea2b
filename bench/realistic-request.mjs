// @ts-check
// What every bench target is asked: one realistic browser page load, as Envoy's ext_authz
// filter sends it over gRPC (CheckRequest, `headers` map with pseudo-headers) and as NGINX's
// auth_request subrequest sends it over HTTP (X-Original-* control headers). Also loads our
// ext_authz protos exactly as the server does (src/adapters/grpc/load-protos.ts).

import { Buffer } from 'node:buffer';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'proto');
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
export const AUTH_REQUEST_PATH = '/api/authz/auth-request';
export const FORWARD_AUTH_PATH = '/api/authz/forward-auth';

/** Put into the User-Agent of checks the RTI stand-in must never answer (hang scenario). */
export const HANG_MARKER = 'bench-hang';
/** Put into the User-Agent of checks the RTI stand-in calls suspicious (challenge phase). */
export const SUSPICIOUS_MARKER = 'bench-suspicious';

/** A current desktop Chrome navigating to a product page, with consent and analytics cookies. */
export const BROWSER_HEADERS = Object.freeze({
  'user-agent':
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  accept:
    'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
  'accept-language': 'en-GB,en-US;q=0.9,en;q=0.8',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'cache-control': 'max-age=0',
  'sec-ch-ua': '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
  'sec-ch-ua-mobile': '?0',
  'sec-ch-ua-platform': '"Windows"',
  'upgrade-insecure-requests': '1',
  'sec-fetch-site': 'same-origin',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-user': '?1',
  'sec-fetch-dest': 'document',
  referer: 'https://shop.example.com/category/shoes?page=2',
  cookie:
    '_ga=GA1.1.1234567890.1732000000; _cheq_rti=Y2hlcS1jb29raWUtdmFsdWUtMTIzNDU2Nzg5MA; cart=3f9a2c; consent=analytics%3Dtrue%26ads%3Dfalse; _ga_ABC123=GS1.1.1732000000.3.1.1732000100.0.0.0',
  'x-forwarded-for': '203.0.113.42, 10.1.2.3',
});

const HOST = 'shop.example.com';
const URI = '/products/7?color=red&size=42';

/**
 * The page load's variants: a marker in the User-Agent for the RTI stand-in (hang: never
 * answered; suspicious: a suspicious verdict), another target (`uri`), more cookies.
 * @typedef {object} Variant
 * @property {boolean} [hang]
 * @property {boolean} [suspicious]
 * @property {string} [uri] path and query
 * @property {string} [cookie] appended to the browser's cookies
 * @property {string} [clientIp] another visitor (memory phase): the peer Envoy reports
 * @property {string} [userAgent] that visitor's User-Agent instead of the browser's
 */

/** The browser's headers for a variant. @param {Variant} variant */
function browserHeaders({ hang = false, suspicious = false, cookie, clientIp, userAgent }) {
  const marker = hang ? HANG_MARKER : suspicious ? SUSPICIOUS_MARKER : undefined;
  const agent = userAgent ?? BROWSER_HEADERS['user-agent'];
  return {
    ...BROWSER_HEADERS,
    'user-agent': marker ? `${agent} ${marker}` : agent,
    ...(clientIp ? { 'x-forwarded-for': clientIp } : {}),
    ...(cookie ? { cookie: `${BROWSER_HEADERS.cookie}; ${cookie}` } : {}),
  };
}

/**
 * The CheckRequest object (proto-loader field names) Envoy sends for the page load.
 * @param {Variant} [variant]
 */
export function checkRequestObject(variant = {}) {
  const uri = variant.uri ?? URI;
  const clientIp = variant.clientIp ?? '10.1.2.3';
  const headers = {
    ':authority': HOST,
    ':path': uri,
    ':method': 'GET',
    ':scheme': 'https',
    ...browserHeaders(variant),
    'x-forwarded-proto': 'https',
    'x-envoy-external-address': variant.clientIp ?? '203.0.113.42',
    'x-request-id': '5d3c1f7e-8a2b-4c9d-9e1f-0a1b2c3d4e5f',
  };
  return {
    attributes: {
      source: { address: { socket_address: { address: clientIp, port_value: 51234 } } },
      destination: { address: { socket_address: { address: '10.0.0.5', port_value: 8443 } } },
      request: {
        time: { seconds: '1764000000', nanos: 250_000_000 },
        http: {
          id: '13371337133713371337',
          method: 'GET',
          headers,
          path: uri,
          host: HOST,
          scheme: 'https',
          protocol: 'HTTP/1.1',
          size: '0',
        },
      },
      context_extensions: {},
    },
  };
}

/** Headers of NGINX's auth_request subrequest (deploy/ NGINX config) for the same page load. */
export function authRequestHeaders() {
  return {
    'X-Original-URI': URI,
    'X-Original-Method': 'GET',
    'X-Original-Host': HOST,
    'X-Forwarded-Proto': 'https',
    'X-Real-IP': '203.0.113.42',
    ...BROWSER_HEADERS,
  };
}

/**
 * Headers of Traefik's ForwardAuth or Caddy's forward_auth request for a variant of the page
 * load (the browser's X-Forwarded-For ends with the proxy's own peer).
 * @param {Variant} [variant]
 */
export function forwardAuthHeaders(variant = {}) {
  return {
    'X-Forwarded-Method': 'GET',
    'X-Forwarded-Proto': 'https',
    'X-Forwarded-Host': HOST,
    'X-Forwarded-Uri': variant.uri ?? URI,
    ...browserHeaders(variant),
  };
}

/** Our ext_authz package definition, loaded with the server's proto-loader options. */
export function loadExtAuthz() {
  const packageDefinition = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: false,
    oneofs: true,
    includeDirs: [PROTO_DIR],
  });
  /** @type {any} the package tree proto-loader built; its shape is the proto's */
  const proto = grpc.loadPackageDefinition(packageDefinition);
  /** @type {grpc.ServiceDefinition} */
  const service = proto.envoy.service.auth.v3.Authorization.service;
  const check = /** @type {grpc.MethodDefinition<object, CheckResponse>} */ (service['Check']);
  return { packageDefinition, service, check };
}

/**
 * A gRPC client class whose Check takes a CheckRequest serialized once ahead (a Buffer) and
 * decodes answers with our CheckResponse type: the load clients' per-request cost stays low.
 */
export function preSerializedCheckClient() {
  const { check } = loadExtAuthz();
  return grpc.makeGenericClientConstructor(
    {
      Check: {
        ...check,
        requestSerialize: /** @param {Buffer} buffer */ buffer => buffer,
        requestDeserialize: /** @param {Buffer} buffer */ buffer => buffer,
      },
    },
    'envoy.service.auth.v3.Authorization',
  );
}

/** What the bench reads of a CheckResponse. @typedef {{ status?: { code?: number } }} CheckResponse */

/** The serialized CheckRequest behind a 5-byte gRPC frame prefix (uncompressed), for h2load. */
/** @param {Buffer} message */
export function grpcFrame(message) {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}
