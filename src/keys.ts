import { DEFAULT_SHARD_COUNT, shardKeys, shardOf, type ShardKeys } from './ownership/shards.js';

/**
 * Every Redis key Leasehold touches, in one place. The prefix is empty by default so that the
 * seed's commands work as written: `LPUSH workload_queue …`, `SET session:<id>:heartbeat OK EX 30`.
 *
 * Laid out for Redis Cluster: every script touches the keys of one hash slot. The queue's own
 * name is the hash tag of its processing lists and dead letters (`{workload_queue}:…`), so the
 * producers' `LPUSH workload_queue` is unchanged and the atomic move stays in one slot. A
 * workload's record lives in its shard's slot (`leasehold:{s<n>}:workload:<id>`) beside the
 * shard's lease, active set, lease deadlines and inbox, so one fenced script can write them all.
 * The lease keys keep the seed's name and so live in any slot: they are read apart (reaper.ts).
 */
export interface Keys {
  readonly queue: string;
  readonly dead: string;
  /** A replica's processing list: never shared, named after the replica. */
  processing(consumer: string): string;
  /** Set of the ids of replicas that ever had a processing list: a survivor recovers the dead ones'. */
  readonly consumers: string;
  readonly shardCount: number;
  /** A hash per workload: spec, persisted snapshot, state, seq; in its shard's slot. */
  workload(id: string): string;
  shardOf(id: string): number;
  /** The shard's owner hash, active set, lease deadlines and inbox (see ownership/shards.ts). */
  shard(shard: number): ShardKeys;
  /**
   * Sorted set of the ids of the shard's finished workloads, scored by when their final snapshot
   * was written (ms, Redis time); in the shard's slot. save.lua adds to it and trims what is older
   * than the retention; `leasehold list --state tornDown` reads it.
   */
  finished(shard: number): string;
  lease(id: string): string;
  readonly leasePrefix: string;
  readonly leaseSuffix: string;
  readonly secret: string;
  /** Hash of warm pool claims: workload id → the member it runs in (src/pool/pool-claims.ts). */
  readonly poolClaims: string;
}

export function createKeys(prefix = '', shardCount = DEFAULT_SHARD_COUNT): Keys {
  const leasePrefix = `${prefix}session:`;
  const leaseSuffix = ':heartbeat';
  const queue = `${prefix}workload_queue`;
  const shards = Array.from({ length: shardCount }, (_, shard) => shardKeys(prefix, shard));
  const workloadKey = (shard: number, id: string) => `${prefix}leasehold:{s${shard}}:workload:${id}`;
  return {
    queue,
    dead: `{${queue}}:dead`,
    processing: (consumer) => `{${queue}}:processing:${consumer}`,
    consumers: `{${queue}}:consumers`,
    shardCount,
    workload: (id) => workloadKey(shardOf(id, shardCount), id),
    shardOf: (id) => shardOf(id, shardCount),
    shard: (shard) => {
      const keys = shards[shard];
      if (!keys) throw new Error(`shard ${shard} is out of range 0..${shardCount - 1}`);
      return keys;
    },
    finished: (shard) => `${prefix}leasehold:{s${shard}}:finished`,
    lease: (id) => `${leasePrefix}${id}${leaseSuffix}`,
    leasePrefix,
    leaseSuffix,
    secret: `${prefix}leasehold:secret`,
    poolClaims: `${prefix}leasehold:pool-claims`,
  };
}
