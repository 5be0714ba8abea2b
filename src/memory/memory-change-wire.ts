// A verdict memory change as it travels through Redis (design.md's wire): one JSON text per stream
// entry. What a peer sent is checked whole before the memory sees it: anyone who can write to the
// stream could otherwise plant keys, tags or expiries of their choosing.

import type { MemoryChange } from './verdict-memory';
import { IP_TAG, MEMORY_KEY } from './visitor-keys';

/** The stream entry's one field. */
export const WIRE_FIELD = 'c';
/** Longer entries are not ours. */
export const MAX_WIRE_BYTES = 1024;
/** The ceiling of verdict_memory_ttl_s: no replica remembers a block longer. */
const MAX_REMEMBER_MS = 3_600_000;
/** How far the replicas' clocks may disagree before a block's expiry is refused as too far off. */
const CLOCK_SKEW_MS = 60_000;
/** A replica id: a UUID, or any short token. */
const REPLICA_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A change read from the stream, with who sent it and when (epoch milliseconds). */
export interface WireChange {
  readonly change: MemoryChange;
  readonly from: string;
  readonly atMs: number;
}

export function encodeChange(change: MemoryChange, from: string, atMs: number): string {
  switch (change.op) {
    case 'block':
      return JSON.stringify({
        op: 'block',
        key: change.key,
        exp: change.expiresAtMs,
        ...(change.tag === undefined ? {} : { tag: change.tag }),
        from,
        at: atMs,
      });
    case 'forget':
      return JSON.stringify({ op: 'forget', key: change.key, from, at: atMs });
    case 'forget_ip':
      return JSON.stringify({ op: 'forget_ip', tag: change.tag, from, at: atMs });
    case 'forget_all':
      return JSON.stringify({ op: 'forget_all', from, at: atMs });
  }
}

/**
 * The change an entry's text holds, or undefined when it is not a valid one: not JSON, too long,
 * an unknown op, a key or tag of the wrong form, an expiry further ahead than any TTL allows.
 * Expired blocks are valid (the memory ignores them): a replica reads back minutes of history.
 */
export function decodeChange(text: unknown, nowMs: number): WireChange | undefined {
  if (typeof text !== 'string' || Buffer.byteLength(text) > MAX_WIRE_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { op, key, exp, tag, from, at } = value as Record<string, unknown>;
  if (typeof from !== 'string' || !REPLICA_ID.test(from)) return undefined;
  if (!isEpochMs(at)) return undefined;
  const change = changeOf(op, key, exp, tag, nowMs);
  return change && { change, from, atMs: at };
}

/**
 * A change from its fields as another process sent them (the stream, a sibling worker), each
 * checked: undefined unless they make a valid one.
 */
export function changeOf(
  op: unknown,
  key: unknown,
  exp: unknown,
  tag: unknown,
  nowMs: number,
): MemoryChange | undefined {
  const isKey = typeof key === 'string' && MEMORY_KEY.test(key);
  const isTag = typeof tag === 'string' && IP_TAG.test(tag);
  switch (op) {
    case 'block':
      if (!isKey || !isEpochMs(exp) || exp > nowMs + MAX_REMEMBER_MS + CLOCK_SKEW_MS) {
        return undefined;
      }
      if (tag === undefined) return { op, key, expiresAtMs: exp };
      // Both kinds of key carry their visitor's IP tag (a device id seen from that IP).
      return isTag ? { op, key, expiresAtMs: exp, tag } : undefined;
    case 'forget':
      return isKey ? { op, key } : undefined;
    case 'forget_ip':
      return isTag ? { op, tag } : undefined;
    case 'forget_all':
      return { op };
    default:
      return undefined;
  }
}

function isEpochMs(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}
