// The verdict memory's entries by IP: each IP slot's entries as a circular list through the entry
// slots' ipNext/ipPrev columns, oldest first, found through an open-addressing table of list
// heads. Off the V8 heap, about 16 bytes an entry instead of a Map entry's 37 that the heap's
// growth then doubles in RSS.

import type { EntrySlots } from './entry-slots';

/** Cells the table starts with (a power of two); doubled when half are used. */
const FIRST_CELLS = 1024;

/** An IP's entries are few (VerdictMemory's MAX_KEYS_PER_IP): its list is walked, not counted. */
export class IpLists {
  /** Open addressing by IP slot: each used cell holds a list's oldest entry slot + 1; 0 free. */
  private heads = new Int32Array(FIRST_CELLS);
  private lists = 0;

  /** The IP slots in `slots.ip` are 30 bits of a digest, already uniform: their own hash. */
  constructor(private readonly slots: EntrySlots) {}

  /** Lists `slot` under `ip` as its newest. */
  add(ip: number, slot: number): void {
    const { ipNext: next, ipPrev: prev } = this.slots;
    const cell = this.cellOf(ip);
    const held = this.heads[cell] as number;
    if (held === 0) {
      this.heads[cell] = slot + 1;
      next[slot] = slot;
      prev[slot] = slot;
      if (++this.lists * 2 > this.heads.length) this.rehash(this.heads.length * 2);
      return;
    }
    const oldest = held - 1;
    const newest = prev[oldest] as number;
    next[newest] = slot;
    prev[slot] = newest;
    next[slot] = oldest;
    prev[oldest] = slot;
  }

  /** Takes `slot` out of `ip`'s list. */
  remove(ip: number, slot: number): void {
    const { ipNext: next, ipPrev: prev } = this.slots;
    const cell = this.cellOf(ip);
    const after = next[slot] as number;
    if (after === slot) {
      this.free(cell);
      return;
    }
    const before = prev[slot] as number;
    next[before] = after;
    prev[after] = before;
    if (this.heads[cell] === slot + 1) this.heads[cell] = after + 1;
  }

  /** `ip`'s entry slots, oldest first. */
  slotsOf(ip: number): number[] {
    const held = this.heads[this.cellOf(ip)] as number;
    if (held === 0) return [];
    const { ipNext: next } = this.slots;
    const slots = [held - 1];
    for (let at = next[held - 1] as number; at !== held - 1; at = next[at] as number) {
      slots.push(at);
    }
    return slots;
  }

  /** The cell holding `ip`'s list, or the free cell where it would go. */
  private cellOf(ip: number): number {
    const mask = this.heads.length - 1;
    let cell = ip & mask;
    for (let held = this.heads[cell]; held !== 0; held = this.heads[cell]) {
      if (this.ipOf((held as number) - 1) === ip) return cell;
      cell = (cell + 1) & mask;
    }
    return cell;
  }

  /** Frees a cell, moving back the lists after it that would no longer be found (no tombstones). */
  private free(cell: number): void {
    const mask = this.heads.length - 1;
    this.lists--;
    let hole = cell;
    this.heads[hole] = 0;
    for (let at = (hole + 1) & mask; this.heads[at] !== 0; at = (at + 1) & mask) {
      const home = this.ipOf((this.heads[at] as number) - 1) & mask;
      // It stays when its home is cyclically within (hole, at]: probing from it never crosses hole.
      const stays = hole < at ? hole < home && home <= at : hole < home || home <= at;
      if (stays) continue;
      this.heads[hole] = this.heads[at] as number;
      this.heads[at] = 0;
      hole = at;
    }
  }

  private ipOf(slot: number): number {
    return this.slots.ip[slot] as number;
  }

  private rehash(cells: number): void {
    const old = this.heads;
    this.heads = new Int32Array(cells);
    for (const held of old) {
      if (held !== 0) this.heads[this.cellOf(this.ipOf(held - 1))] = held;
    }
  }
}
