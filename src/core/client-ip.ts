// Chooses the end user's IP address, one rule for every endpoint: start at the calling proxy's
// own peer, and while that hop is a trusted proxy believe what it says about the next one. The
// first untrusted address is the client. Imports only ./ and node: builtins.

import type { RequestAttributes } from './request-attributes';
import { readHopAddress, type TrustedProxies } from './trusted-proxies';

/**
 * The hops, nearest first: `peerAddress` (what the calling proxy reports about its own peer,
 * else the HTTP socket peer; gRPC source.address), then Envoy's `proxyClientIp`
 * (x-envoy-external-address), then `X-Forwarded-For` read from the right, and only when every
 * hop read was trusted, the operator's `trustedIpHeader`. Without a readable first hop
 * nothing is believed (undefined). An unreadable hop ends the walk; when it ends without an
 * untrusted address, the last address read is the client.
 */
export function resolveClientIp(
  attrs: RequestAttributes,
  trustedIpHeader: string | undefined,
  trusted: TrustedProxies,
): string | undefined {
  const peer = attrs.peerAddress === undefined ? undefined : readHopAddress(attrs.peerAddress);
  if (!peer) return undefined;
  if (!trusted.includes(peer)) return peer.ip;
  let last = peer;
  if (attrs.proxyClientIp !== undefined) {
    const reported = readHopAddress(attrs.proxyClientIp);
    if (!reported) return last.ip;
    if (!trusted.includes(reported)) return reported.ip;
    last = reported;
  }
  const walked = walkForwardedFor(attrs.headers.get('x-forwarded-for'), trusted);
  if (walked.client !== undefined) return walked.client;
  // Every hop read is listed: the header was set by one of them (a CDN edge), not by a client
  // that went around it (its own address would have ended the walk above).
  if (trustedIpHeader) {
    const value = attrs.headers.get(trustedIpHeader);
    const hop = value === undefined ? undefined : readHopAddress(lastItem(value));
    if (hop) return hop.ip;
  }
  return walked.last ?? last.ip;
}

/**
 * X-Forwarded-For read from the right: the first untrusted address (`client`), else the last
 * trusted one read (`last`). An unreadable entry ends the walk.
 */
function walkForwardedFor(
  list: string | undefined,
  trusted: TrustedProxies,
): { client?: string; last?: string } {
  if (list === undefined) return {};
  let last: string | undefined;
  let end = list.length;
  // Sliced entry by entry from the right: no array, and the walk stops at the client.
  while (end > 0) {
    const comma = list.lastIndexOf(',', end - 1);
    const entry = list.slice(comma + 1, end);
    end = comma < 0 ? 0 : comma;
    if (entry.trim() === '') continue;
    const hop = readHopAddress(entry);
    if (!hop) break;
    if (!trusted.includes(hop)) return { client: hop.ip };
    last = hop.ip;
  }
  return last === undefined ? {} : { last };
}

/** A custom header set by a CDN holds one address; a list keeps the hop nearest to us. */
function lastItem(value: string): string {
  const comma = value.lastIndexOf(',');
  return comma < 0 ? value : value.slice(comma + 1);
}
