// Traefik ForwardAuth and Caddy forward_auth: the original request is described by
// X-Forwarded-Method/-Proto/-Host/-Uri/-For. Allow 200 + verdict headers, deny 403, redirect
// 302 + Location (both proxies pass a non-2xx answer to the client as it is).

import type { IncomingMessage } from 'node:http';
import {
  boundedRequestId,
  normalizeMethod,
  splitPathAndQuery,
} from '../../core/request-attributes';
import {
  allowHeaders,
  endUserHeaders,
  firstListItem,
  headerValue,
  reject,
  stopHeaders,
  validScheme,
  writeAnswer,
  writeDenyWithBody,
  type HttpEndpoint,
} from './http-endpoint';

export const FORWARD_AUTH_PATH = '/api/authz/forward-auth';

const CONTROL_HEADERS: ReadonlySet<string> = new Set([
  'x-forwarded-method',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-uri',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
]);

export const forwardAuth: HttpEndpoint = {
  transport: 'forward_auth',

  toAttributes(req: IncomingMessage) {
    const uri = headerValue(req, 'x-forwarded-uri');
    if (uri === undefined || uri === '') return reject('X-Forwarded-Uri', 'missing');
    if (!uri.startsWith('/')) return reject('X-Forwarded-Uri', 'invalid');
    const methodHeader = headerValue(req, 'x-forwarded-method');
    if (methodHeader === undefined) return reject('X-Forwarded-Method', 'missing');
    const method = normalizeMethod(methodHeader);
    if (!method) return reject('X-Forwarded-Method', 'invalid');
    const proto = headerValue(req, 'x-forwarded-proto');
    const scheme = proto === undefined ? 'http' : validScheme(proto);
    if (!scheme) return reject('X-Forwarded-Proto', 'invalid');
    const host = headerValue(req, 'x-forwarded-host') || headerValue(req, 'host') || '';
    return {
      transport: 'forward_auth',
      requestId: boundedRequestId(headerValue(req, 'x-request-id')),
      method,
      scheme,
      host,
      ...splitPathAndQuery(uri),
      headers: endUserHeaders(req, CONTROL_HEADERS, host),
      // Both proxies set X-Forwarded-For to the client chain they trust, client first.
      proxyClientIp: firstListItem(headerValue(req, 'x-forwarded-for')),
      peerAddress: undefined,
      receivedAtMs: Date.now(),
      route: {},
    };
  },

  respond(res, decision) {
    switch (decision.action) {
      case 'allow': {
        // Every verdict header is sent, empty when it does not apply, so a proxy that copies
        // them onto the upstream request overwrites any the client forged.
        const headers = allowHeaders(decision);
        for (const name of decision.upstreamHeadersToRemove) headers.push([name, '']);
        return writeAnswer(res, 200, headers);
      }
      case 'deny':
        return writeDenyWithBody(res, decision);
      case 'redirect':
        return writeAnswer(res, 302, stopHeaders(decision));
    }
  },
};
