// NGINX auth_request: the subrequest carries the end user's headers plus the control headers
// the shipped config sets. Answers: allow 200, deny 403, redirect 401 + Location (NGINX passes
// only 2xx/401/403; the shipped config turns the 401 into a 302), always Content-Length: 0.

import type { IncomingMessage } from 'node:http';
import {
  boundedRequestId,
  normalizeMethod,
  splitPathAndQuery,
} from '../../core/request-attributes';
import {
  allowHeaders,
  endUserHeaders,
  headerValue,
  reject,
  stopHeaders,
  validScheme,
  writeAnswer,
  type HttpEndpoint,
} from './http-endpoint';

export const AUTH_REQUEST_PATH = '/api/authz/auth-request';

/** Headers the shipped config sets for us; Connection is NGINX's hop-by-hop header. */
const CONTROL_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'x-original-uri',
  'x-original-method',
  'x-original-host',
  'x-forwarded-proto',
]);

export const nginxAuthRequest: HttpEndpoint = {
  transport: 'nginx',

  toAttributes(req: IncomingMessage) {
    const uri = headerValue(req, 'x-original-uri');
    if (uri === undefined || uri === '') return reject('X-Original-URI', 'missing');
    if (!uri.startsWith('/')) return reject('X-Original-URI', 'invalid');
    const methodHeader = headerValue(req, 'x-original-method');
    if (methodHeader === undefined) return reject('X-Original-Method', 'missing');
    const method = normalizeMethod(methodHeader);
    if (!method) return reject('X-Original-Method', 'invalid');
    const proto = headerValue(req, 'x-forwarded-proto');
    const scheme = proto === undefined ? 'http' : validScheme(proto);
    if (!scheme) return reject('X-Forwarded-Proto', 'invalid');
    const host = headerValue(req, 'x-original-host') || headerValue(req, 'host') || '';
    return {
      transport: 'nginx',
      requestId: boundedRequestId(headerValue(req, 'x-request-id')),
      method,
      scheme,
      host,
      ...splitPathAndQuery(uri),
      headers: endUserHeaders(req, CONTROL_HEADERS, host),
      proxyClientIp: headerValue(req, 'x-real-ip'),
      // The socket peer is NGINX itself, not the end user.
      peerAddress: undefined,
      receivedAtMs: Date.now(),
      route: {},
    };
  },

  respond(res, decision) {
    switch (decision.action) {
      case 'allow':
        return writeAnswer(res, 200, allowHeaders(decision));
      case 'deny':
        return writeAnswer(res, 403, stopHeaders(decision));
      case 'redirect':
        return writeAnswer(res, 401, stopHeaders(decision));
    }
  },
};
