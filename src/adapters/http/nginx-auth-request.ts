// NGINX auth_request: the subrequest carries the end user's headers plus the control headers
// the shipped config sets. Answers: allow 200, deny and challenge 403 + X-Cheq-Page (the page
// endpoint renders the page), redirect 401 + Location (NGINX passes only 2xx/401/403; the
// shipped config turns the 401 into a 302), always Content-Length: 0.

import type { IncomingMessage } from 'node:http';
import {
  allowHeaders,
  headerValue,
  readOriginalRequest,
  stopHeaders,
  writeAnswer,
  type HttpEndpoint,
} from './http-endpoint';

export const AUTH_REQUEST_PATH = '/api/authz/auth-request';

/** The 403's page ticket, which the shipped @cheq_deny location sends to the page endpoint. */
export const PAGE_TICKET_HEADER = 'x-cheq-page';

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
    return readOriginalRequest(req, {
      transport: 'nginx',
      method: { value: headerValue(req, 'x-original-method'), header: 'X-Original-Method' },
      target: { value: headerValue(req, 'x-original-uri'), header: 'X-Original-URI' },
      host: headerValue(req, 'x-original-host'),
      // The shipped config sets X-Real-IP to $remote_addr.
      reportedPeer: headerValue(req, 'x-real-ip'),
      controlHeaders: CONTROL_HEADERS,
    });
  },

  respond(res, decision) {
    switch (decision.action) {
      case 'allow':
        return writeAnswer(res, 200, allowHeaders(decision));
      case 'deny':
      case 'challenge': {
        // NGINX drops this answer's body: the page endpoint renders it from the ticket.
        const headers = stopHeaders(decision);
        if (decision.page) headers.push([PAGE_TICKET_HEADER, decision.page]);
        return writeAnswer(res, 403, headers);
      }
      case 'redirect':
        return writeAnswer(res, 401, stopHeaders(decision));
    }
  },
};
