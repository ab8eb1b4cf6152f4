import type { PoolClaim, PoolClaims } from '../../src/pool/pool-claims.js';

/** Warm pool claims in memory, for a PooledRuntime tested without Redis (the race or rule under test is in this process). */
export class MemoryClaims implements PoolClaims {
  readonly claims = new Map<string, PoolClaim>();
  async record(id: string, claim: PoolClaim) {
    this.claims.set(id, claim);
  }
  async lookup(id: string) {
    return this.claims.get(id) ?? null;
  }
  async forget(id: string) {
    this.claims.delete(id);
  }
  async all() {
    return new Map(this.claims);
  }
}
