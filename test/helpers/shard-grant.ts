import type { Redis } from 'ioredis';
import type { Keys } from '../../src/keys.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';

/**
 * Makes `replicaId` the owner of `shard` under `epoch`, as the ownership's acquire script would
 * (without a membership or renewals), so that a test can drive the fenced stores directly.
 */
export async function holdShard(redis: Redis, keys: Keys, replicaId: string, shard: number, epoch: number): Promise<ShardGrant> {
  await redis.hset(keys.shard(shard).owner, 'owner', replicaId, 'epoch', String(epoch), 'expiresAt', String(Date.now() + 3_600_000));
  return { shard, epoch };
}

/** Intake's view of ownership when `replicaId` is the only replica and holds every shard under epoch 1. */
export function soleOwner(replicaId: string) {
  return { epochOf: () => 1, members: async () => [replicaId] };
}
