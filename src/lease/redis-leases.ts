import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import { loadLua } from '../lua.js';

const REAP = loadLua(import.meta.url, 'reap.lua');

export interface LeaseGrant {
  readonly id: string;
  readonly ttlMs: number;
}

/**
 * Heartbeat leases in Redis: a key with a TTL per workload (`session:<id>:heartbeat`, as the seed
 * names it) plus a sorted set of deadlines, so that finding lapsed leases never scans all keys.
 *
 * Writes are not awaited one by one: the connection auto-pipelines, so a burst of grants issued in
 * one tick travels in one round trip. Callers await the returned promise only where order matters.
 */
export class RedisLeases {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Takes or renews leases; the deadline is computed from `now` so the set and the keys agree. */
  grant(grants: readonly LeaseGrant[], now: number): Promise<unknown> {
    if (grants.length === 0) return Promise.resolve();
    const pipeline = this.redis.pipeline();
    const zadd: (string | number)[] = [];
    for (const { id, ttlMs } of grants) {
      pipeline.set(this.keys.lease(id), '1', 'PX', ttlMs);
      zadd.push(now + ttlMs, id);
    }
    pipeline.zadd(this.keys.leaseDeadlines, ...zadd);
    return pipeline.exec();
  }

  release(ids: readonly string[]): Promise<unknown> {
    if (ids.length === 0) return Promise.resolve();
    const pipeline = this.redis.pipeline();
    pipeline.del(...ids.map((id) => this.keys.lease(id)));
    pipeline.zrem(this.keys.leaseDeadlines, ...ids);
    return pipeline.exec();
  }

  /** Ids whose lease lapsed by `now`; each is reported once. */
  async reap(now: number, limit: number, defaultTtlMs: number): Promise<string[]> {
    const lapsed = await this.redis.eval(
      REAP,
      1,
      this.keys.leaseDeadlines,
      now,
      limit,
      this.keys.leasePrefix,
      this.keys.leaseSuffix,
      defaultTtlMs,
    );
    return lapsed as string[];
  }

  /** Remaining time on a lease in ms, or null when there is none. */
  async remaining(id: string): Promise<number | null> {
    const ttl = await this.redis.pttl(this.keys.lease(id));
    return ttl >= 0 ? ttl : null;
  }
}
