// The verdict memory's entries as columns: each field in a typed array, indexed by the entry's
// slot, the small integer lru-cache holds as its key's value. An object per entry would cost 64
// bytes of heap plus the sweep's own list of keys; a slot costs 36 bytes here, off the V8 heap
// (whose growth doubles what it holds in RSS), and one key pointer.

/** Slots the columns start with; they double when full, up to the most ever needed. */
const FIRST_CAPACITY = 1024;

export class EntrySlots {
  /** Times in milliseconds since the store began (VerdictMemory's `base`): see VerdictMemory. */
  expiresAt: Float64Array;
  toldUntil: Float64Array;
  learnedAt: Float64Array;
  /** Its visitor's IP slot (VerdictMemory's slotOf), or a negative number when unknown. */
  ip: Int32Array;
  /** Its neighbours in its IP's list (ip-lists.ts), while listed. */
  ipNext: Int32Array;
  ipPrev: Int32Array;
  /** The key each slot holds, undefined while free: the sweep walks these. */
  readonly keys: (string | undefined)[] = [];
  private readonly free: number[] = [];

  /** `maxSlots`: the most slots ever held at once. */
  constructor(private readonly maxSlots: number) {
    const capacity = Math.min(FIRST_CAPACITY, maxSlots);
    this.expiresAt = new Float64Array(capacity);
    this.toldUntil = new Float64Array(capacity);
    this.learnedAt = new Float64Array(capacity);
    this.ip = new Int32Array(capacity);
    this.ipNext = new Int32Array(capacity);
    this.ipPrev = new Int32Array(capacity);
  }

  /** A free slot, now holding `key`; its fields are the caller's to set. */
  take(key: string): number {
    const slot = this.free.pop() ?? this.keys.length;
    if (slot >= this.ip.length) this.grow();
    this.keys[slot] = key;
    return slot;
  }

  release(slot: number): void {
    this.keys[slot] = undefined;
    this.free.push(slot);
  }

  private grow(): void {
    const capacity = Math.min(this.maxSlots, this.ip.length * 2);
    this.expiresAt = grown(this.expiresAt, new Float64Array(capacity));
    this.toldUntil = grown(this.toldUntil, new Float64Array(capacity));
    this.learnedAt = grown(this.learnedAt, new Float64Array(capacity));
    this.ip = grown(this.ip, new Int32Array(capacity));
    this.ipNext = grown(this.ipNext, new Int32Array(capacity));
    this.ipPrev = grown(this.ipPrev, new Int32Array(capacity));
  }
}

function grown<T extends Float64Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
