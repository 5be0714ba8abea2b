// What the decision core needs from the verdict memory (src/memory implements it): recent RTI
// blocks, recalled only when RTI cannot be asked. Imports only ./.

/** Which of a visitor's keys an entry was found under. */
export type MemoryKeyKind = 'ip_ua' | 'duid';

/** The request facts a visitor is known by: never a path or a query. */
export interface Visitor {
  /**
   * The site's memory scope (memory-scope.ts: its name and policy): a block on one site is not
   * remembered on another, nor under a policy that no longer blocks.
   */
  readonly site: string;
  /** The trusted client IP (client-ip.ts); IPv6 is remembered by its /64. */
  readonly clientIp: string | undefined;
  readonly userAgent: string | undefined;
  /** CHEQ's device id, the `_cq_duid` cookie. */
  readonly duid: string | undefined;
}

/** A remembered block: under which key, and until when (epoch milliseconds). */
export interface Remembered {
  readonly key: MemoryKeyKind;
  readonly expiresAtMs: number;
}

export interface BlockMemory {
  /** The visitor's remembered block, if any: local, O(1), never waits. */
  recall(visitor: Visitor): Remembered | undefined;
  /** RTI's answer led to a block: remember it for `ttlMs`. */
  remember(visitor: Visitor, ttlMs: number): void;
  /** RTI answered without a block: whatever was remembered of the visitor is forgotten. */
  forget(visitor: Visitor): void;
}
