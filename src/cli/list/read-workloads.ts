import type { Redis } from 'ioredis';
import { createKeys, type Keys } from '../../keys.js';
import { assertShardCount, DEFAULT_SHARD_COUNT, memberKeys } from '../../ownership/shards.js';
import { CliError } from '../cli-error.js';

/**
 * Reads the unfinished workloads of every shard straight from Redis, so that one command sees
 * what all replicas hold, whichever of them is up. Read-only (GET, HMGET, SSCAN, TIME), and in
 * pages: SSCAN walks each shard's active set a page at a time and one pipeline of HMGETs reads
 * that page's records, so no single command is proportional to the number of workloads and
 * other clients' commands interleave with ours. (A pipeline is not a transaction: Redis serves
 * others between its commands.) There is no SCAN of the keyspace: finished workloads, which
 * have left the active sets, are read from the shards' indexes of them (read-finished.ts).
 */

/** One workload hash as stored (record.lua, save.lua): the fields a listing needs. */
export interface StoredRecord {
  readonly id: string;
  readonly shard: number;
  readonly spec: string | null;
  readonly state: string | null;
  readonly snapshot: string | null;
  readonly replica: string | null;
}

/** Who holds each shard now, by Redis time (null: nobody, or a lease that lapsed). */
export interface ShardOwners {
  readonly owners: readonly (string | null)[];
  /** Redis time, ms: the one clock every replica's lease is measured by. */
  readonly now: number;
}

const RECORD_FIELDS = ['spec', 'state', 'snapshot', 'replica'] as const;

/**
 * The installation's shard count, as the first replica set it (heartbeat.lua); the default when
 * no replica ever ran against this prefix. Reading another count than the replicas use would
 * look in the wrong shards' sets, so the stored one wins.
 */
export async function keysOfInstallation(redis: Redis, prefix: string): Promise<Keys> {
  const stored = await redis.get(memberKeys(prefix).shardCount);
  const count = stored === null ? DEFAULT_SHARD_COUNT : Number(stored);
  try {
    assertShardCount(count);
  } catch {
    throw new CliError(`${memberKeys(prefix).shardCount} holds ${JSON.stringify(stored)}, not a shard count; is --key-prefix right?`);
  }
  return createKeys(prefix, count);
}

export async function readOwners(redis: Redis, keys: Keys): Promise<ShardOwners> {
  const pipeline = redis.pipeline().time();
  for (let shard = 0; shard < keys.shardCount; shard++) pipeline.hmget(keys.shard(shard).owner, 'owner', 'expiresAt');
  const [first, ...replies] = ((await pipeline.exec()) ?? []) as [Error | null, unknown][];
  if (!first || first[0]) throw first?.[0] ?? new Error('no reply to TIME');
  const [seconds, micros] = first[1] as [string, string];
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const owners = replies.map(([error, reply]) => {
    if (error) throw error;
    const [owner, expiresAt] = reply as [string | null, string | null];
    return owner && Number(expiresAt) > now ? owner : null;
  });
  return { owners, now };
}

/** Every record of every shard's active set, a page at a time; each id once. */
export async function* readActive(redis: Redis, keys: Keys, pageSize = 500): AsyncGenerator<StoredRecord[]> {
  for (let shard = 0; shard < keys.shardCount; shard++) {
    // SSCAN may return an element twice (when the set is rehashed meanwhile).
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, found] = await redis.sscan(keys.shard(shard).active, cursor, 'COUNT', pageSize);
      cursor = next;
      const ids = found.filter((id) => !seen.has(id));
      if (ids.length === 0) continue;
      for (const id of ids) seen.add(id);
      yield await readRecords(redis, keys, shard, ids);
    } while (cursor !== '0');
  }
}

/** The records of `ids`, all of `shard`, in one pipeline; a record that is gone reads as all nulls. */
export async function readRecords(redis: Redis, keys: Keys, shard: number, ids: readonly string[]): Promise<StoredRecord[]> {
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(keys.workload(id), ...RECORD_FIELDS);
  const replies = (await pipeline.exec()) ?? [];
  return ids.map((id, i) => {
    const [error, reply] = replies[i] ?? [new Error('no reply'), null];
    if (error) throw error;
    const [spec, state, snapshot, replica] = reply as (string | null)[];
    return { id, shard, spec: spec ?? null, state: state ?? null, snapshot: snapshot ?? null, replica: replica ?? null };
  });
}
