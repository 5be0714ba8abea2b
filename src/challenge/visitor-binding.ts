// What a pass, a token and a landing grant are bound to: a digest of the site and the browser's
// identity headers, so a value copied to a client whose browser differs is refused.

import { createHash } from 'node:crypto';
import type { HeaderList } from '../core/header-list';

/** Length of a binding: 16 bytes of SHA-256 as base64url. */
export const VISITOR_BINDING_LENGTH = 22;

/**
 * SHA-256 (first 16 bytes, base64url) of the site, User-Agent, Accept-Language and
 * sec-ch-ua-platform. Not the client IP: mobile carriers move a client between addresses of a
 * CGNAT pool from one request to the next, and a pass bound to the IP locks that person out
 * (CHEQ's Fastly integration does so). A bot can copy these headers along with a cookie; what a
 * copied pass buys stays bounded because RTI is still asked on every request, a block still
 * blocks, and the pass only turns a challenge into an allow until it expires.
 */
export function visitorBinding(site: string, headers: HeaderList): string {
  // JSON keeps the fields apart: "a" + "bc" and "ab" + "c" must not digest alike.
  const identity = JSON.stringify([
    site,
    headers.get('user-agent') ?? '',
    headers.get('accept-language') ?? '',
    headers.get('sec-ch-ua-platform') ?? '',
  ]);
  return createHash('sha256').update(identity).digest().subarray(0, 16).toString('base64url');
}

/** The visitor a signed value must have been issued to, and the time of the check. */
export interface Visitor {
  readonly site: string;
  /** visitorBinding(site, headers) of the request. */
  readonly binding: string;
  /** Epoch milliseconds. */
  readonly nowMs: number;
}
