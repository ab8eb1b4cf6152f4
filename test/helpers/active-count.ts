import type { Redis } from 'ioredis';
import type { Keys } from '../../src/keys.js';

/** How many workloads Redis holds as unfinished, summed over every shard's active set. */
export async function activeCount(redis: Redis, keys: Keys): Promise<number> {
  const pipeline = redis.pipeline();
  for (let shard = 0; shard < keys.shardCount; shard++) pipeline.scard(keys.shard(shard).active);
  return ((await pipeline.exec()) ?? []).reduce((sum, [, n]) => sum + Number(n), 0);
}
