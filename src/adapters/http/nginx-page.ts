// The page endpoint of the shipped NGINX config: auth_request drops the auth answer's body, so
// its @cheq_deny location proxies here with the X-Cheq-Page ticket of the 403 and the original
// request's X-Original-* headers; we answer with the page (block page, challenge page, stealth
// 404) as the client is to get it, without asking RTI. Internal: the recipe never routes a
// client here directly.

import type { IncomingMessage } from 'node:http';
import { headerValue, writeAnswer, writeStop, type HttpEndpoint } from './http-endpoint';
import { nginxAuthRequest, PAGE_TICKET_HEADER } from './nginx-auth-request';

export const PAGE_PATH = '/api/authz/page';

export const nginxPage: HttpEndpoint = {
  transport: 'nginx',

  toAttributes: (req, path) => nginxAuthRequest.toAttributes(req, path),

  // A missing ticket is read as '' (not as no ticket): a plain 403, never a check.
  decideOptions: (req: IncomingMessage) => ({
    pageTicket: headerValue(req, PAGE_TICKET_HEADER) ?? '',
  }),

  respond(res, decision) {
    if (decision.action === 'allow' || decision.action === 'redirect') {
      // Only a bug or a site without settings gets here: nothing to show but a refusal.
      return writeAnswer(res, 403, [['content-type', 'text/plain']], 'Forbidden\n');
    }
    return writeStop(res, decision);
  },
};
