import type { Redis } from 'ioredis';
import { describeError } from '../../machines/index.js';
import type { Logger } from '../log.js';

/** What Redis does with an acknowledged write, as far as `CONFIG GET` tells. */
export interface RedisDurability {
  /** `aof`: an append-only file; `rdb`: periodic snapshots only; `none`: memory only. */
  readonly persistence: 'aof' | 'rdb' | 'none';
  /** `always`, `everysec` or `no`; meaningful with `aof`. */
  readonly appendfsync: string;
  /** `save` as configured: `3600 1 300 100 60 10000`, or '' for no snapshots. */
  readonly save: string;
  /** Anything but `noeviction` lets Redis delete keys (queue, records, leases) when full. */
  readonly maxmemoryPolicy: string;
}

/**
 * Reads Redis's persistence and eviction settings, or why it could not: managed services
 * (ElastiCache, Memorystore, Upstash) rename or refuse `CONFIG`, and so do ACL users without it.
 */
export async function readDurability(redis: Redis): Promise<RedisDurability | { unknown: string }> {
  try {
    const [appendonly, appendfsync, save, maxmemoryPolicy] = await Promise.all(
      ['appendonly', 'appendfsync', 'save', 'maxmemory-policy'].map(async (name) => ((await redis.config('GET', name)) as string[])[1] ?? ''),
    );
    const persistence = appendonly === 'yes' ? 'aof' : save!.trim() !== '' ? 'rdb' : 'none';
    return { persistence, appendfsync: appendfsync!, save: save!, maxmemoryPolicy: maxmemoryPolicy! };
  } catch (error) {
    return { unknown: describeError(error).split('\n')[0]! };
  }
}

/**
 * Says once, at start, what this Redis can lose. Submissions are acknowledged when Redis has
 * them in memory: with no append-only file and no snapshots, a Redis restart loses every queued
 * submission and every workload record, and nothing else would ever say so. An eviction policy
 * other than `noeviction` lets a full Redis delete them (and leases) outright, as BullMQ warns too.
 */
export async function warnIfRedisCanLose(redis: Redis, log: Logger, server: string): Promise<RedisDurability | null> {
  const durability = await readDurability(redis);
  if ('unknown' in durability) {
    log.info({ redis: server, reason: durability.unknown }, 'could not check Redis persistence and eviction (CONFIG GET refused); make sure it has appendonly yes and maxmemory-policy noeviction');
    return null;
  }
  const { persistence, appendfsync, save, maxmemoryPolicy } = durability;
  if (persistence === 'none') {
    log.warn(
      { redis: server, appendonly: 'no', save },
      'Redis keeps nothing on disk: a Redis restart loses every queued submission and workload record. Set appendonly yes (appendfsync everysec) on the Redis server',
    );
  } else if (persistence === 'rdb') {
    log.info({ redis: server, save }, 'Redis persists by snapshots only: a Redis crash loses what was submitted since the last one. appendonly yes loses at most a second');
  } else if (appendfsync === 'no') {
    log.info({ redis: server, appendfsync }, 'Redis writes its append-only file but leaves flushing to the OS: a machine crash can lose up to ~30 s of submissions');
  }
  if (maxmemoryPolicy !== 'noeviction') {
    log.warn(
      { redis: server, maxmemoryPolicy },
      `Redis may evict keys when full (maxmemory-policy ${maxmemoryPolicy}): queued submissions, workload records and leases can vanish. Set maxmemory-policy noeviction`,
    );
  }
  return durability;
}
