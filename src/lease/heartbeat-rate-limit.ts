/**
 * A token bucket per workload: `burst` heartbeats at once, then `perSecond`. A lease lasts a second or more,
 * and an honest workload beats a few times per lease, so it never notices; one that spams its endpoint gets 429s that cost
 * the control plane next to nothing, instead of a lease renewal each.
 */
export interface HeartbeatRate {
  readonly perSecond: number;
  readonly burst: number;
}

export const DEFAULT_HEARTBEAT_RATE: HeartbeatRate = { perSecond: 5, burst: 10 };

export class HeartbeatRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: HeartbeatRate = DEFAULT_HEARTBEAT_RATE,
    private readonly now: () => number = () => performance.now(),
    /** Beyond this many ids, the fullest buckets are forgotten first (they would be full anyway). */
    private readonly maxIds = 100_000,
  ) {}

  /** Takes one heartbeat from `id`'s bucket; false when it is empty. */
  take(id: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(id) ?? { tokens: this.rate.burst, at: now };
    bucket.tokens = Math.min(this.rate.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rate.perSecond);
    bucket.at = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.buckets.delete(id); // re-inserted last: the map's order is least recently used first
    this.buckets.set(id, bucket);
    if (this.buckets.size > this.maxIds) this.buckets.delete(this.buckets.keys().next().value!);
    return allowed;
  }

  forget(id: string): void {
    this.buckets.delete(id);
  }
}
