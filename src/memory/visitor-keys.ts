// The keys a visitor's block is remembered under: the client IP (IPv6 by its /64, which one host
// can fill) with the User-Agent, and CHEQ's device id when the visitor sent one. The client can
// drop a cookie, so the IP key stands on its own. Keys are truncated SHA-256 digests: an entry's
// size is bounded whatever the User-Agent's length, and no address travels to Redis in clear.

import { hash } from 'node:crypto';
import type { MemoryKeyKind, Visitor } from '../core/block-memory';
import { bucketSubject } from '../core/enforcement';

/** `i:` (IP and User-Agent) or `d:` (device id), then 22 base64url characters (132 bits). */
export const MEMORY_KEY = /^[id]:[A-Za-z0-9_-]{22}$/;
/** An IP alone (`p:`): not a key, the tag that lets an operator forget every key of one IP. */
export const IP_TAG = /^p:[A-Za-z0-9_-]{22}$/;

const PREFIX: Record<MemoryKeyKind | 'ip', string> = { ip_ua: 'i:', duid: 'd:', ip: 'p:' };

/** The IP and User-Agent key; none without a client IP. */
export function ipUaKey(visitor: Visitor): string | undefined {
  const { site, clientIp, userAgent = '' } = visitor;
  if (clientIp === undefined) return undefined;
  return digest('ip_ua', `${site}\n${bucketSubject(clientIp)}\n${userAgent}`);
}

/** The device id key; none without a `_cq_duid` cookie. */
export function duidKey(visitor: Visitor): string | undefined {
  const { site, duid } = visitor;
  if (duid === undefined || duid === '') return undefined;
  return digest('duid', `${site}\n${duid}`);
}

/** The IP tag of a site's visitor (every User-Agent); none without a client IP. */
export function ipTag(site: string, clientIp: string | undefined): string | undefined {
  return clientIp === undefined ? undefined : digest('ip', `${site}\n${bucketSubject(clientIp)}`);
}

/** Which kind of key a stored key is. */
export function kindOf(key: string): MemoryKeyKind {
  return key.startsWith(PREFIX.duid) ? 'duid' : 'ip_ua';
}

function digest(kind: MemoryKeyKind | 'ip', subject: string): string {
  return PREFIX[kind] + hash('sha256', subject, 'base64url').slice(0, 22);
}

/**
 * A key as the store keeps it: a flat string of its own. A key as built above is a concatenation
 * over a slice that keeps the whole 43-character digest alive behind it; looking one up is fine,
 * holding 100,000 of them is not.
 */
export function flatKey(key: string): string {
  return Buffer.from(key, 'latin1').toString('latin1');
}
