// The verdict memory: RTI's recent blocks, one store per process kept across reloads, read only
// when RTI cannot be asked (decide.ts). Bounded: an entry cap with least-recently-used eviction
// and an expiry per entry, swept a bounded number at a time, round the whole store. Its changes
// are told to the peers (Redis, the cluster's other workers), which apply theirs here; every
// call is synchronous and local.

import { LRUCache } from 'lru-cache';
import type { BlockMemory, Remembered, Visitor } from '../core/block-memory';
import { EntrySlots } from './entry-slots';
import { IpLists } from './ip-lists';
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

/** A block is told to the peers again only once less than this share of its TTL is left. */
const REPUBLISH_SHARE = 0.5;
/** Keys one IP (IPv6: one /64) may hold within their TTL, of either kind. */
export const MAX_KEYS_PER_IP = 32;
/** The IP slot of a visitor without a known IP. */
const NO_IP = -1;

/**
 * An IP tag's slot: 30 bits of its digest, a small integer V8 keeps inline. With N addresses held,
 * about N²/2³¹ pairs share a slot (one pair at 50,000). Such a pair only shares the per-IP cap
 * and an operator's forget_ip: it can drop one address's entries, never block anyone.
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
  /** LRU only, each key's slot: the expiry is ours, so that peers can be told it. */
  private readonly cache: LRUCache<string, number>;
  /**
   * Each key's block, by slot: when it expires; the expiry the peers were last told (a block RTI
   * repeats refreshes the expiry only); when it was last learned (here, when RTI blocked; from a
   * peer, the change's time: a peer's forget made before it, read back late, leaves it); its
   * visitor's IP slot. Times are milliseconds since `base`. Every key, in no order, for the sweep
   * to walk a chunk at a time from `cursor`, round and round: the least recently used end alone
   * would leave expired entries behind live ones of a longer TTL, or behind recalled ones, until
   * the cap pushed live ones out instead.
   */
  private readonly slots: EntrySlots;
  private readonly now: () => number;
  /** Epoch milliseconds the entries' times count from. */
  private readonly base: number;
  /** Each IP slot's entries, oldest stored first. Both kinds of key carry their visitor's IP. */
  private readonly byIp: IpLists;
  private cursor = 0;
  private readonly listeners: ((change: MemoryChange, source: ChangeSource) => void)[] = [];

  constructor(options: VerdictMemoryOptions) {
    this.now = options.now ?? Date.now;
    this.base = this.now();
    // One more than the cap: a new key takes its slot before the set that evicts for it.
    this.slots = new EntrySlots(options.maxEntries + 1);
    this.byIp = new IpLists(this.slots);
    this.cache = new LRUCache<string, number>({
      max: options.maxEntries,
      // Never 'set': store() keeps a held key's slot.
      dispose: (slot, _key, reason) => {
        if (reason === 'evict') this.counts.evicted.capacity++;
        const ip = this.slots.ip[slot] as number;
        if (ip !== NO_IP) this.byIp.remove(ip, slot);
        this.slots.release(slot);
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
      const held = this.cache.peek(key);
      const toldUntilMs = held === undefined ? 0 : this.base + this.toldUntil(held);
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
    const { keys } = this.slots;
    for (let seen = Math.min(limit, keys.length); seen > 0; seen--) {
      if (this.cursor >= keys.length) this.cursor = 0;
      const key = keys[this.cursor];
      if (key !== undefined && this.expiresAt(this.cursor) <= now) this.dropExpired(key);
      this.cursor++;
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
    const heldMs = this.base + this.expiresAt(held);
    if (Math.max(heldMs, toldMs) <= now) return false;
    // The peers know the later expiry once told it; a later one of ours is still to be told.
    const [expiresAtMs, toldUntilMs] =
      toldMs >= heldMs ? [toldMs, toldMs] : [heldMs, this.base + this.toldUntil(held)];
    const learnedAtMs = Math.max(atMs, this.base + this.learnedAt(held));
    this.store(change.key, expiresAtMs, toldUntilMs, learnedAtMs, change.tag);
    return true;
  }

  /** Forgets a key unless its block was learned after `atMs`; true when it was held. */
  private forgetUnlessNewer(key: string, atMs: number): boolean {
    const held = this.cache.peek(key);
    if (held === undefined || this.base + this.learnedAt(held) > atMs) return false;
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
    const ofIp = ip === NO_IP ? [] : this.keysOf(ip);
    if (ofIp.length >= MAX_KEYS_PER_IP && !ofIp.includes(key)) {
      const [oldest] = ofIp;
      if (oldest !== undefined && this.cache.delete(oldest)) this.counts.evicted.ip_limit++;
    }
    // A held key keeps its slot; it is listed under its IP again, as the newest.
    const held = this.cache.peek(key);
    if (held !== undefined && this.slots.ip[held] !== NO_IP) {
      this.byIp.remove(this.slots.ip[held] as number, held);
    }
    const slot = held ?? this.slots.take(key);
    this.slots.expiresAt[slot] = expiresAtMs - this.base;
    this.slots.toldUntil[slot] = toldUntilMs - this.base;
    this.slots.learnedAt[slot] = learnedAtMs - this.base;
    this.slots.ip[slot] = ip;
    // Also makes it the most recently used (evicting the least when new, which frees its slot).
    this.cache.set(key, slot);
    if (ip !== NO_IP) this.byIp.add(ip, slot);
  }

  /** An IP slot's keys, oldest first. */
  private keysOf(ip: number): string[] {
    return this.byIp.slotsOf(ip).map(slot => this.slots.keys[slot] as string);
  }

  /** The key's expiry while it lasts; an expired entry is dropped. */
  private expiryOf(key: string): number | undefined {
    const slot = this.cache.get(key);
    if (slot === undefined) return undefined;
    const expiresAtMs = this.base + this.expiresAt(slot);
    if (expiresAtMs > this.now()) return expiresAtMs;
    this.dropExpired(key);
    return undefined;
  }

  private dropExpired(key: string): void {
    this.cache.delete(key);
    this.counts.evicted.expired++;
  }

  // A slot's times, since `base` (in range: every slot read is one the cache holds).
  private expiresAt(slot: number): number {
    return this.slots.expiresAt[slot] as number;
  }

  private toldUntil(slot: number): number {
    return this.slots.toldUntil[slot] as number;
  }

  private learnedAt(slot: number): number {
    return this.slots.learnedAt[slot] as number;
  }

  private emit(change: MemoryChange, source: ChangeSource): void {
    for (const listener of this.listeners) listener(change, source);
  }
}
