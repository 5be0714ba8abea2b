// Chooses the end user's IP address for RTI. Order: the operator's trusted header, then what
// the proxy determined (Envoy x-envoy-external-address, NGINX X-Real-IP), then the L4 peer.

import { isIP } from 'node:net';
import type { RequestAttributes } from './request-attributes';

export function resolveClientIp(
  attrs: RequestAttributes,
  trustedIpHeader: string | undefined,
): string | undefined {
  if (trustedIpHeader) {
    const ip = firstIp(attrs.headers.get(trustedIpHeader));
    if (ip) return ip;
  }
  return firstIp(attrs.proxyClientIp) ?? firstIp(attrs.peerAddress);
}

/** First element of a comma list, when it is an IP address (a port-less IPv4 or IPv6 literal). */
function firstIp(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const comma = value.indexOf(',');
  const candidate = (comma < 0 ? value : value.slice(0, comma)).trim();
  return isIP(candidate) ? candidate : undefined;
}
