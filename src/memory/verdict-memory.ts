// The verdict memory: RTI's recent blocks, one store per process kept across reloads, read only
// when RTI cannot be asked (decide.ts). Bounded: an entry cap with least-recently-used eviction
// and an expiry per entry, swept a bounded number at a time, round the whole store. Its changes
// are told to the peers (Redis, the cluster's other workers), which apply theirs here; every
// call is synchronous and local.

import { LRUCache } from 'lru-cache';
import type { BlockMemory, Remembered, Visitor } from '../core/block-memory';
import { duidKey, flatKey, ipTag, ipUaKey, kindOf } from './visitor-keys';

/** What one replica tells the others: a block learned, or forgotten, by key (visitor-keys.ts). */
export type MemoryChange =
  | {
      readonly op: 'block';
      readonly key: string;
      readonly expiresAtMs: number;
      /** The visitor's IP tag (forget_ip finds its keys by it; MAX_KEYS_PER_IP counts by it). */
      readonly tag?: string;
    }
  | { readonly op: 'forget'; readonly key: string }
  /** Every key of one IP, whatever the User-Agent: `tag` is visitor-keys' ipTag. */
  | { readonly op: 'forget_ip'; readonly tag: string }
  | { readonly op: 'forget_all' };

/** Where a change came from: this process's checks, an operator, or a peer. */
export type ChangeSource = 'local' | 'admin' | 'peer';

/** Running totals, read at scrape time (verdict-memory-metrics.ts). */
export interface MemoryCounts {
  learned: Record<'local' | 'peer', number>;
  forgotten: Record<'rti_allowed' | 'admin' | 'peer', number>;
  /** `ip_limit`: an IP's oldest key, pushed out by its MAX_KEYS_PER_IP + 1st. */
  evicted: Record<'capacity' | 'expired' | 'ip_limit', number>;
}

export interface VerdictMemoryOptions {
  /** Entries at most; past it the least recently used goes. */
  readonly maxEntries: number;
  /** Epoch milliseconds (tests pass a fake clock). */
  readonly now?: () => number;
}

/**
 * One key's block. Times are milliseconds since the store was made: small integers V8 keeps
 * inline rather than as boxed numbers (an entry's size is what bounds the memory's RSS).
 */
class Entry {
  constructor(
    readonly expiresAt: number,
    /** The expiry the peers were last told: a block RTI repeats refreshes expiresAt only. */
    readonly toldUntil: number,
    /** Its visitor's IP slot (slotOf), NO_IP when the IP is unknown. */
    readonly ip: number,
    /**
     * When its block was last learned: here, when RTI blocked; from a peer, the change's time. A
     * peer's forget made before it (read back late, after a reconnect) leaves it.
     */
    readonly learnedAt: number,
    /** Where its key is in VerdictMemory's sweep ring (moved when another key leaves it). */
    public ring: number,
  ) {}
}

/** A block is told to the peers again only once less than this share of its TTL is left. */
const REPUBLISH_SHARE = 0.5;
/** Keys one IP (IPv6: one /64) may hold within their TTL, of either kind. */
export const MAX_KEYS_PER_IP = 32;
/** Entry.ip of a visitor without a known IP. */
const NO_IP = -1;

/**
 * An IP tag's slot: 30 bits of its digest, a small integer V8 keeps inline. Two addresses sharing
 * a slot (about one pair in a billion) only share the per-IP cap and an operator's forget_ip.
 */
function slotOf(tag: string): number {
  let slot = 0;
  for (let at = 2; at < 7; at++) slot = slot * 64 + BASE64URL.indexOf(tag.charAt(at));
  return slot;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Entries looked at per sweep: about 0.1 ms of work; the whole store once per size/1000 calls. */
const SWEEP_LIMIT = 1000;

export class VerdictMemory implements BlockMemory {
  readonly counts: MemoryCounts = {
    learned: { local: 0, peer: 0 },
    forgotten: { rti_allowed: 0, admin: 0, peer: 0 },
    evicted: { capacity: 0, expired: 0, ip_limit: 0 },
  };
  /** LRU only: the expiry is ours, so that peers can be told it. */
  private readonly cache: LRUCache<string, Entry>;
  private readonly now: () => number;
  /** Epoch milliseconds the entries' times count from. */
  private readonly base: number;
  /**
   * Each IP slot's keys, oldest stored first: one key as itself, more as a list (most IPs hold
   * one, and a list would double an entry's size). Both kinds of key carry their visitor's IP.
   */
  private readonly keysOfIp = new Map<number, string | string[]>();
  /**
   * Every key, in no order, for the sweep to walk a chunk at a time from `cursor`, round and
   * round: the least recently used end alone would leave expired entries behind live ones of a
   * longer TTL, or behind recalled ones, until the cap pushed live ones out instead. A key that
   * leaves is replaced by the last one (Entry.ring says where each is), so it holds no holes.
   */
  private readonly ring: string[] = [];
  private cursor = 0;
  private readonly listeners: ((change: MemoryChange, source: ChangeSource) => void)[] = [];

  constructor(options: VerdictMemoryOptions) {
    this.now = options.now ?? Date.now;
    this.base = this.now();
    this.cache = new LRUCache<string, Entry>({
      max: options.maxEntries,
      dispose: (entry, key, reason) => {
        if (reason === 'evict') this.counts.evicted.capacity++;
        if (entry.ip !== NO_IP) this.untag(entry.ip, key);
        // A replaced entry's key stays: store() hands its place to the new entry.
        if (reason !== 'set') this.leaveRing(entry.ring);
      },
    });
  }

  /** Entries held now, expired ones not yet swept included. */
  get size(): number {
    return this.cache.size;
  }

  get maxEntries(): number {
    return this.cache.max;
  }

  /** Told of every change made here (not of those applied from peers): the peers' feed. */
  onChange(listener: (change: MemoryChange, source: ChangeSource) => void): void {
    this.listeners.push(listener);
  }

  recall(visitor: Visitor): Remembered | undefined {
    for (const key of [ipUaKey(visitor), duidKey(visitor)]) {
      if (key === undefined) continue;
      const expiresAtMs = this.expiryOf(key);
      if (expiresAtMs !== undefined) return { key: kindOf(key), expiresAtMs };
    }
    return undefined;
  }

  remember(visitor: Visitor, ttlMs: number): void {
    const expiresAtMs = this.now() + ttlMs;
    const ipKey = ipUaKey(visitor);
    const tag = ipKey === undefined ? undefined : ipTag(visitor.site, visitor.clientIp);
    const tagged = tag === undefined ? {} : { tag };
    for (const key of [ipKey, duidKey(visitor)]) {
      if (key === undefined) continue;
      // A bot blocked again and again is told to the peers once per half TTL, not per request.
      const toldUntilMs = this.base + (this.cache.peek(key)?.toldUntil ?? -this.base);
      const tell = toldUntilMs - this.now() <= ttlMs * REPUBLISH_SHARE;
      this.store(key, expiresAtMs, tell ? expiresAtMs : toldUntilMs, this.now(), tag);
      this.counts.learned.local++;
      if (tell) this.emit({ op: 'block', key, expiresAtMs, ...tagged }, 'local');
    }
  }

  forget(visitor: Visitor): void {
    if (this.cache.size === 0) return;
    for (const key of [ipUaKey(visitor), duidKey(visitor)]) {
      if (key === undefined || !this.cache.delete(key)) continue;
      this.counts.forgotten.rti_allowed++;
      this.emit({ op: 'forget', key }, 'local');
    }
  }

  /**
   * The device id keys stored with an IP (its tag): the devices seen blocked from it. An operator
   * forgetting one User-Agent of an IP forgets these too, not knowing which went with it.
   */
  deviceKeysOf(tag: string): string[] {
    return this.keysOf(slotOf(tag)).filter(key => kindOf(key) === 'duid');
  }

  /**
   * A change from an operator (told to the peers) or from a peer (not told again), made at `atMs`
   * (a peer's: the time it sent; an operator's: now). Peers' changes arrive late and out of order
   * (a reconnect reads back minutes of the stream), so none undoes newer knowledge: a block keeps
   * the later of the two expiries (a peer's capped at `maxTtlMs`, this process's longest site
   * TTL), and a forget leaves the entries learned after it.
   */
  apply(
    change: MemoryChange,
    source: 'admin' | 'peer',
    maxTtlMs = Infinity,
    atMs = this.now(),
  ): void {
    // Never ahead of ours: a peer's fast clock must not shield its blocks from later forgets.
    // Never before the store began (nothing here is older): the times stay small integers.
    const at = Math.max(this.base, Math.min(atMs, this.now()));
    switch (change.op) {
      case 'block':
        if (this.storePeerBlock(change, at, maxTtlMs) && source === 'peer') {
          this.counts.learned.peer++;
        }
        break;
      case 'forget':
        if (this.forgetUnlessNewer(change.key, at)) this.counts.forgotten[source]++;
        break;
      case 'forget_ip':
        for (const key of this.keysOf(slotOf(change.tag))) {
          if (this.forgetUnlessNewer(key, at)) this.counts.forgotten[source]++;
        }
        break;
      case 'forget_all':
        for (const key of [...this.cache.keys()]) {
          if (this.forgetUnlessNewer(key, at)) this.counts.forgotten[source]++;
        }
        break;
    }
    if (source === 'admin') this.emit(change, source);
  }

  /**
   * Drops expired entries among the next `limit` of the ring, going on from where the last call
   * stopped: a timer calls it, so that the work per call is bounded whatever the cap, and every
   * entry is looked at once per round (reads drop expired ones too).
   */
  sweep(limit = SWEEP_LIMIT): void {
    const now = this.now() - this.base;
    for (let seen = Math.min(limit, this.ring.length); seen > 0; seen--) {
      if (this.cursor >= this.ring.length) this.cursor = 0;
      const key = this.ring[this.cursor] as string;
      // Dropping it moves the ring's last key here: look at this place again.
      if ((this.cache.peek(key)?.expiresAt ?? now) <= now) this.dropExpired(key);
      else this.cursor++;
    }
  }

  /** Stores a block told by a peer or an operator; false when it has expired already. */
  private storePeerBlock(
    change: Extract<MemoryChange, { op: 'block' }>,
    atMs: number,
    maxTtlMs: number,
  ): boolean {
    const now = this.now();
    const held = this.cache.peek(change.key);
    const toldMs = Math.min(change.expiresAtMs, now + maxTtlMs);
    if (held === undefined) {
      if (toldMs <= now) return false;
      this.store(change.key, toldMs, toldMs, atMs, change.tag);
      return true;
    }
    const heldMs = this.base + held.expiresAt;
    if (Math.max(heldMs, toldMs) <= now) return false;
    // The peers know the later expiry once told it; a later one of ours is still to be told.
    const [expiresAtMs, toldUntilMs] =
      toldMs >= heldMs ? [toldMs, toldMs] : [heldMs, this.base + held.toldUntil];
    const learnedAtMs = Math.max(atMs, this.base + held.learnedAt);
    this.store(change.key, expiresAtMs, toldUntilMs, learnedAtMs, change.tag);
    return true;
  }

  /** Forgets a key unless its block was learned after `atMs`; true when it was held. */
  private forgetUnlessNewer(key: string, atMs: number): boolean {
    const held = this.cache.peek(key);
    if (held === undefined || this.base + held.learnedAt > atMs) return false;
    return this.cache.delete(key);
  }

  /**
   * Stores an entry. A new key of an IP that holds MAX_KEYS_PER_IP already pushes out that IP's
   * oldest: one address changing its User-Agent or device id on every blocked request cannot push
   * the other visitors out of the memory, nor keep its own newest key out of it.
   */
  private store(
    built: string,
    expiresAtMs: number,
    toldUntilMs: number,
    learnedAtMs: number,
    tag?: string,
  ): void {
    const key = flatKey(built);
    const ip = tag === undefined ? NO_IP : slotOf(tag);
    const held = ip === NO_IP ? [] : this.keysOf(ip);
    if (held.length >= MAX_KEYS_PER_IP && !held.includes(key)) {
      const [oldest] = held;
      if (oldest !== undefined && this.cache.delete(oldest)) this.counts.evicted.ip_limit++;
    }
    // Replacing an entry disposes of the old one (untag), so the key is listed again after.
    const replaced = this.cache.peek(key);
    const entry = new Entry(
      expiresAtMs - this.base,
      toldUntilMs - this.base,
      ip,
      learnedAtMs - this.base,
      -1,
    );
    this.cache.set(key, entry);
    // After set: a capacity eviction it made has moved the ring's last key.
    entry.ring = replaced?.ring ?? this.ring.push(key) - 1;
    if (ip === NO_IP) return;
    const listed = this.keysOfIp.get(ip);
    if (listed === undefined) this.keysOfIp.set(ip, key);
    else if (typeof listed === 'string') this.keysOfIp.set(ip, [listed, key]);
    else listed.push(key);
  }

  /** Takes the key at `at` out of the ring, moving the last key into its place. */
  private leaveRing(at: number): void {
    const last = this.ring.pop() as string;
    if (at === this.ring.length) return;
    this.ring[at] = last;
    (this.cache.peek(last) as Entry).ring = at;
  }

  /** An IP slot's keys, oldest first (a copy). */
  private keysOf(ip: number): string[] {
    const listed = this.keysOfIp.get(ip);
    return listed === undefined ? [] : typeof listed === 'string' ? [listed] : [...listed];
  }

  private untag(ip: number, key: string): void {
    const left = this.keysOf(ip).filter(listed => listed !== key);
    if (left.length === 0) this.keysOfIp.delete(ip);
    else this.keysOfIp.set(ip, left.length === 1 ? (left[0] as string) : left);
  }

  /** The key's expiry while it lasts; an expired entry is dropped. */
  private expiryOf(key: string): number | undefined {
    const entry = this.cache.get(key);
    if (entry === undefined) return undefined;
    const expiresAtMs = this.base + entry.expiresAt;
    if (expiresAtMs > this.now()) return expiresAtMs;
    this.dropExpired(key);
    return undefined;
  }

  private dropExpired(key: string): void {
    this.cache.delete(key);
    this.counts.evicted.expired++;
  }

  private emit(change: MemoryChange, source: ChangeSource): void {
    for (const listener of this.listeners) listener(change, source);
  }
}
