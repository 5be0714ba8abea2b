// Envoy (and Istio envoyExtAuthzHttp) HTTP ext_authz: the check arrives as the original
// method and `path_prefix + original path`, with the headers Envoy is allowed to forward.
// Envoy allows only on exactly 200; any other 2xx-4xx status is a deny passed to the client.

import type { IncomingMessage } from 'node:http';
import {
  allowHeaders,
  headerValue,
  readOriginalRequest,
  writeAnswer,
  writeStop,
  type HttpEndpoint,
} from './http-endpoint';

export const EXT_AUTHZ_PREFIX = '/api/authz/ext-authz';

/** Envoy's own framing of the check request, not the end user's. */
const CONTROL_HEADERS: ReadonlySet<string> = new Set(['content-length']);

export const envoyHttp: HttpEndpoint = {
  transport: 'envoy_http',

  toAttributes(req: IncomingMessage, path: string) {
    return readOriginalRequest(req, {
      transport: 'envoy_http',
      // Envoy keeps the client's method and appends the original path to path_prefix.
      method: { value: req.method, header: ':method' },
      target: { value: path || '/', header: ':path' },
      host: headerValue(req, 'host'),
      // The shipped config adds x-real-ip: %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, Envoy's
      // client address (after its xff_num_trusted_hops). x-envoy-external-address is no first
      // hop: Envoy leaves a client-sent one alone on requests from private peers (a load
      // balancer that SNATs), so it is believed only from a listed peer.
      reportedPeer: headerValue(req, 'x-real-ip'),
      reportedClient: headerValue(req, 'x-envoy-external-address'),
      controlHeaders: CONTROL_HEADERS,
    });
  },

  respond(res, decision) {
    switch (decision.action) {
      case 'allow': {
        const headers = allowHeaders(decision);
        if (decision.upstreamHeadersToRemove.length > 0) {
          // Envoy removes these from the upstream request: forged verdicts never pass.
          headers.push([
            'x-envoy-auth-headers-to-remove',
            decision.upstreamHeadersToRemove.join(', '),
          ]);
        }
        return writeAnswer(res, 200, headers);
      }
      case 'deny':
      case 'challenge':
      case 'redirect':
        return writeStop(res, decision);
    }
  },
};
