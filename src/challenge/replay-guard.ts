// Remembers which challenge tokens this process has redeemed, until each would have expired,
// so a (token, solution) pair passes once. Per process: replicas share only the secret.

/** Default bound on remembered nonces: about 10 MB at worst. */
export const DEFAULT_REPLAY_GUARD_CAPACITY = 100_000;

export class ReplayGuard {
  /** Nonce -> expiry (epoch ms), in redemption order. */
  private readonly used = new Map<string, number>();

  constructor(private readonly capacity = DEFAULT_REPLAY_GUARD_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError('ReplayGuard capacity must be a positive integer');
    }
  }

  /** Whether `nonce` was redeemed and has not expired yet. */
  has(nonce: string, nowMs: number): boolean {
    const expiresAtMs = this.used.get(nonce);
    return expiresAtMs !== undefined && expiresAtMs > nowMs;
  }

  /**
   * Records `nonce` as redeemed until `expiresAtMs`; false when it already was (the caller
   * refuses it as replayed). Synchronous, so of two concurrent redemptions exactly one wins.
   *
   * When full, the oldest entry is forgotten even if unexpired, rather than new passes refused:
   * refusing would let a flood of solved tokens lock every person out of passing, while a
   * forgotten nonce only lets that token's own visitor binding redeem it again, which gives
   * nothing a copy of the pass cookie it already earned would not.
   */
  redeem(nonce: string, expiresAtMs: number, nowMs: number): boolean {
    if (this.has(nonce, nowMs)) return false;
    this.used.delete(nonce);
    this.forgetExpired(nowMs);
    if (this.used.size >= this.capacity) this.forgetOldest();
    this.used.set(nonce, expiresAtMs);
    return true;
  }

  get size(): number {
    return this.used.size;
  }

  /**
   * Tokens share one lifetime, so redemption order is close to expiry order: dropping expired
   * entries from the front costs amortised O(1); one redeemed late waits behind at most one
   * token lifetime.
   */
  private forgetExpired(nowMs: number): void {
    for (const [nonce, expiresAtMs] of this.used) {
      if (expiresAtMs > nowMs) return;
      this.used.delete(nonce);
    }
  }

  private forgetOldest(): void {
    const oldest = this.used.keys().next();
    if (!oldest.done) this.used.delete(oldest.value);
  }
}
