/**
 * Which shard a workload belongs to, and the Redis keys of a shard.
 *
 * The mapping must be computable by anyone, in any language, from the id alone: producers,
 * operators and other tools use it to find a workload's owner. It is FNV-1a, 32 bits, over the
 * id's UTF-8 bytes, then `mod count`:
 *
 * ```
 * h = 0x811c9dc5
 * for each byte b of utf8(id): h = ((h xor b) * 0x01000193) mod 2^32
 * shard = h mod count
 * ```
 *
 * The shard count is fixed for an installation (every replica must use the same one; the
 * membership script refuses a replica configured differently), because changing it moves
 * workloads between shards.
 */
export const DEFAULT_SHARD_COUNT = 64;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a, 32 bits, over the UTF-8 bytes of `text`; an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return fnv1a32Bytes(Buffer.from(text, 'utf8'));
    hash = Math.imul(hash ^ code, FNV_PRIME) >>> 0;
  }
  return hash;
}

function fnv1a32Bytes(bytes: Uint8Array): number {
  let hash = FNV_OFFSET;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, FNV_PRIME) >>> 0;
  return hash;
}

/** The shard of workload `id` among `count` shards. */
export function shardOf(id: string, count: number = DEFAULT_SHARD_COUNT): number {
  assertShardCount(count);
  return fnv1a32(id) % count;
}

export function assertShardCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > 16384) {
    throw new Error(`the shard count must be an integer from 1 to 16384, not ${count}`);
  }
}

/**
 * The keys of one shard. They share the hash tag `{s<n>}`, so on Redis Cluster they live in one
 * slot and one script may touch all of them. Only `owner` is used by the ownership adapter; the
 * others are reserved here so that every per-shard key is named in one place.
 */
export interface ShardKeys {
  /** Hash `{owner, epoch, expiresAt}`: the shard's lease and fencing token. */
  readonly owner: string;
  /** Set of the ids of the shard's workloads that are not torn down yet. */
  readonly active: string;
  /** Sorted set of the shard's workload lease deadlines (score: ms, Redis time). */
  readonly leaseDeadlines: string;
  /** List of entries recorded into the shard by a replica that does not own it. */
  readonly inbox: string;
}

export function shardKeys(prefix: string, shard: number): ShardKeys {
  const base = `${prefix}leasehold:{s${shard}}:`;
  return {
    owner: `${base}owner`,
    active: `${base}active`,
    leaseDeadlines: `${base}lease-deadlines`,
    inbox: `${base}inbox`,
  };
}

/** Membership keys; they share the hash tag `{members}`, so the membership scripts touch one slot. */
export interface MemberKeys {
  /** Sorted set of live replica ids, scored by their membership's expiry (ms, Redis time). */
  readonly set: string;
  /** A key per replica with a TTL; its value is the incarnation that holds the id. */
  replica(id: string): string;
  /** A counter bumped when a replica joins, leaves or releases shards: peers poll it to rebalance at once. */
  readonly changes: string;
  /** The shard count the installation was started with; a replica configured otherwise is refused. */
  readonly shardCount: string;
}

export function memberKeys(prefix: string): MemberKeys {
  const base = `${prefix}leasehold:{members}:`;
  return {
    set: `${base}set`,
    replica: (id) => `${base}replica:${id}`,
    changes: `${base}changes`,
    shardCount: `${base}shard-count`,
  };
}
