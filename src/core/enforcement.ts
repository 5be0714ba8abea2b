// Gradual enforcement (enforce_percent): which visitors blocking mode acts on. Imports only ./
// and node: builtins. A visitor's bucket is a keyed hash of its trusted client IP, not a coin
// toss: one visitor is never blocked on one page and let through on the next, and raising the
// percent only adds visitors. Cookies and User-Agent are left out because a client picks them
// freely; IPv6 counts by /64, which one host can fill; the key is secret, so a bot cannot work
// out offline which addresses pass.

import { createHmac } from 'node:crypto';
import type { PolicyOutcome } from './policy';
import type { RtiInput } from './rti-port';

/** Visitors are spread over this many buckets: enforce_percent acts on percent × 100 of them. */
export const ENFORCE_BUCKETS = 10_000;

/** What identifies a visitor: the client IP resolved from trusted hops only. */
export type Visitor = Pick<RtiInput, 'clientIp'>;

const PERCENT = /^\d{1,3}$/;

/** The route's `cheq_enforce_percent` when it is an integer 0-100; the configured share otherwise. */
export function resolveEnforcePercent(routeValue: string | undefined, configured: number): number {
  if (routeValue === undefined || !PERCENT.test(routeValue)) return configured;
  const percent = Number(routeValue);
  return percent <= 100 ? percent : configured;
}

/**
 * The policy's outcome in blocking mode at `percent`: unchanged when it does not act on the
 * visitor or the visitor is in the enforced share; else allowed as `not_enforced`, with what
 * would have happened.
 */
export function enforceGradually(
  outcome: PolicyOutcome,
  percent: number,
  visitor: Visitor,
  key: BucketKey,
): PolicyOutcome {
  const acts = outcome.action !== 'allow' || outcome.challenge;
  if (!acts || isEnforced(visitor, percent, key)) return outcome;
  const would = { action: outcome.action, reason: outcome.reason };
  return { action: 'allow', reason: 'not_enforced', rule: outcome.rule, challenge: false, would };
}

/**
 * Whether a visitor is in the enforced share; 100 and 0 are answered without hashing. A visitor
 * without a client IP cannot be placed, and is enforced.
 */
export function isEnforced(visitor: Visitor, percent: number, key: BucketKey): boolean {
  if (percent >= 100 || visitor.clientIp === undefined) return true;
  if (percent <= 0) return false;
  return visitorBucket(visitor.clientIp, key) < percent * (ENFORCE_BUCKETS / 100);
}

/** The secret key of the bucket hash. Its bytes stay inside: not in a log, not in a dump. */
export class BucketKey {
  readonly #secret: Buffer;

  constructor(secret: Uint8Array) {
    // A Buffer key: HMAC over a KeyObject costs about three times as much per call.
    this.#secret = Buffer.from(secret);
  }

  /** HMAC-SHA256 of `subject`, its first 32 bits. */
  hash32(subject: string): number {
    return createHmac('sha256', this.#secret).update(subject).digest().readUInt32BE(0);
  }
}

/** The bucket in [0, ENFORCE_BUCKETS) of a client IP. */
export function visitorBucket(clientIp: string, key: BucketKey): number {
  return Math.floor((key.hash32(bucketSubject(clientIp)) * ENFORCE_BUCKETS) / 2 ** 32);
}

/**
 * An IPv4 address as it is; an IPv6 address as its /64 prefix (four hex groups, normalised), except
 * a NAT64 address (64:ff9b::/96), which is its IPv4 visitor.
 */
export function bucketSubject(clientIp: string): string {
  if (!clientIp.includes(':')) return clientIp;
  const split = clientIp.indexOf('::');
  const head = groupsOf(split < 0 ? clientIp : clientIp.slice(0, split));
  if (split >= 0) {
    const tail = groupsOf(clientIp.slice(split + 2));
    // `::` stands for the zero groups that make eight; an IPv4 tail counts as two groups.
    const tailGroups = tail.length + (tail.at(-1)?.includes('.') ? 1 : 0);
    while (head.length < 8 - tailGroups) head.push('0');
    head.push(...tail);
  }
  const groups = head.map(group =>
    group.includes('.') ? group : parseInt(group, 16).toString(16),
  );
  // RFC 6052's well-known NAT64 prefix carries a whole IPv4 visitor in its last 32 bits: one /64
  // would be every IPv4 visitor behind the translator.
  if (groups.slice(0, 6).join(':') === NAT64_PREFIX) return embeddedIpv4(groups.slice(6));
  return groups.slice(0, 4).join(':');
}

const NAT64_PREFIX = '64:ff9b:0:0:0:0';

/** The IPv4 address in an address's last two groups (or its dotted tail). */
function embeddedIpv4(tail: readonly string[]): string {
  if (tail.length === 1) return tail[0] as string;
  const bits = tail.map(group => parseInt(group, 16));
  return bits.flatMap(group => [group >> 8, group & 255]).join('.');
}

function groupsOf(text: string): string[] {
  return text === '' ? [] : text.split(':');
}
