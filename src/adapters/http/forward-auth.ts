// Traefik ForwardAuth and Caddy forward_auth: the original request is described by
// X-Forwarded-Method/-Proto/-Host/-Uri/-For. Allow 200 + verdict headers, deny 403, redirect
// 302 + Location (both proxies pass a non-2xx answer to the client as it is).

import type { IncomingMessage } from 'node:http';
import {
  allowHeaders,
  headerValue,
  lastListItem,
  readOriginalRequest,
  writeAnswer,
  writeStop,
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
    return readOriginalRequest(req, {
      transport: 'forward_auth',
      method: { value: headerValue(req, 'x-forwarded-method'), header: 'X-Forwarded-Method' },
      target: { value: headerValue(req, 'x-forwarded-uri'), header: 'X-Forwarded-Uri' },
      host: headerValue(req, 'x-forwarded-host'),
      // Both proxies append their own peer to X-Forwarded-For: its last entry.
      reportedPeer: lastListItem(req, 'x-forwarded-for'),
      controlHeaders: CONTROL_HEADERS,
    });
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
      case 'challenge':
      case 'redirect':
        return writeStop(res, decision);
    }
  },
};
