import type { Cluster, Redis } from 'ioredis';
import { defineScripts, loadLua, type ScriptCommand } from '../lua.js';
import { loadFencedLua } from './fencing.js';
import { memberKeys, shardKeys, type MemberKeys } from './shards.js';

/**
 * The ownership scripts, each touching the keys of one hash slot only (one shard's, or the
 * membership's), with every key passed in KEYS: so they run unchanged on Redis Cluster.
 *
 * They are registered with `defineScripts` (EVALSHA, see src/lua.ts).
 */
const SCRIPTS = {
  leaseholdShardAcquire: { numberOfKeys: 1, lua: loadLua(import.meta.url, 'acquire.lua') },
  leaseholdShardRenew: { numberOfKeys: 1, lua: loadFencedLua(import.meta.url, 'renew.lua') },
  leaseholdShardRelease: { numberOfKeys: 1, lua: loadFencedLua(import.meta.url, 'release.lua') },
  leaseholdShardOwner: { numberOfKeys: 1, lua: loadLua(import.meta.url, 'owner.lua') },
  leaseholdMemberHeartbeat: { numberOfKeys: 4, lua: loadLua(import.meta.url, 'heartbeat.lua') },
  leaseholdMembers: { numberOfKeys: 1, lua: loadLua(import.meta.url, 'members.lua') },
  leaseholdMemberLeave: { numberOfKeys: 3, lua: loadLua(import.meta.url, 'leave.lua') },
} as const;

type Commands = Record<keyof typeof SCRIPTS, ScriptCommand>;

export class OwnershipScripts {
  private readonly commands: Commands;
  private readonly members: MemberKeys;
  private readonly owners: string[];

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
    private readonly replicaId: string,
    private readonly incarnation: string,
    shardCount: number,
  ) {
    this.commands = defineScripts(redis, SCRIPTS);
    this.members = memberKeys(prefix);
    this.owners = Array.from({ length: shardCount }, (_, shard) => shardKeys(prefix, shard).owner);
  }

  /** The new epoch, or 0 if another replica holds the shard. */
  async acquire(shard: number, ttlMs: number): Promise<number> {
    return Number(await this.commands.leaseholdShardAcquire(this.ownerKey(shard), this.replicaId, ttlMs));
  }

  async renew(shard: number, epoch: number, ttlMs: number): Promise<boolean> {
    return (await this.commands.leaseholdShardRenew(this.ownerKey(shard), this.replicaId, epoch, ttlMs)) === 1;
  }

  async release(shard: number, epoch: number): Promise<boolean> {
    return (await this.commands.leaseholdShardRelease(this.ownerKey(shard), this.replicaId, epoch)) === 1;
  }

  async owner(shard: number): Promise<{ replicaId: string; epoch: number } | null> {
    const reply = (await this.commands.leaseholdShardOwner(this.ownerKey(shard))) as string[];
    return reply.length === 2 ? { replicaId: reply[0]!, epoch: Number(reply[1]) } : null;
  }

  /** True if this replica joined now. Rejects with a ReplyError SHARD_COUNT or REPLICA_TAKEN. */
  async heartbeat(ttlMs: number, shardCount: number): Promise<boolean> {
    const { set, replica, shardCount: countKey, changes } = this.members;
    const reply = await this.commands.leaseholdMemberHeartbeat(set, replica(this.replicaId), countKey, changes, this.replicaId, this.incarnation, ttlMs, shardCount);
    return reply === 1;
  }

  async liveMembers(): Promise<string[]> {
    return (await this.commands.leaseholdMembers(this.members.set)) as string[];
  }

  async leave(): Promise<void> {
    const { set, replica, changes } = this.members;
    await this.commands.leaseholdMemberLeave(set, replica(this.replicaId), changes, this.replicaId, this.incarnation);
  }

  /** Tells peers to rebalance now (shards were released). */
  async announceChange(): Promise<void> {
    await this.redis.incr(this.members.changes);
  }

  async changes(): Promise<string | null> {
    return this.redis.get(this.members.changes);
  }

  private ownerKey(shard: number): string {
    const key = this.owners[shard];
    if (key === undefined) throw new Error(`shard ${shard} is out of range 0..${this.owners.length - 1}`);
    return key;
  }
}
