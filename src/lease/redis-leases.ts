import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import { defineScripts, type ScriptCommand } from '../lua.js';
import { loadFencedLua, rethrowFenced, FencedError } from '../ownership/fencing.js';
import type { ShardGrant } from '../ownership/ownership.js';
import type { LeaseGrant, LeaseStore } from '../supervisor/ports.js';

const SCRIPTS = {
  leaseholdDeadlines: { numberOfKeys: 2, lua: loadFencedLua(import.meta.url, 'deadlines.lua') },
  leaseholdReapDue: { numberOfKeys: 2, lua: loadFencedLua(import.meta.url, 'reap-due.lua') },
  leaseholdReapConfirm: { numberOfKeys: 2, lua: loadFencedLua(import.meta.url, 'reap-confirm.lua') },
};

/**
 * Heartbeat leases in Redis: a key with a TTL per workload (`session:<id>:heartbeat`, as the seed
 * names it) plus a sorted set of deadlines per shard, so that finding lapsed leases never scans
 * all keys. The deadlines are written by fenced scripts in the shard's slot, scored by Redis time;
 * the lease keys keep the seed's names, so on Redis Cluster they live in other slots and are
 * read in a separate step (see `reap`).
 *
 * Writes are not awaited one by one: the connection auto-pipelines, so a burst of grants issued in
 * one tick travels in one round trip. A write refused by the fence reports the grant to `onFenced`.
 */
export class RedisLeases implements LeaseStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly replicaId: string,
    private readonly onFenced: (grant: ShardGrant) => void = () => undefined,
  ) {
    this.scripts = defineScripts(redis, SCRIPTS);
  }

  private readonly scripts: Record<keyof typeof SCRIPTS, ScriptCommand>;

  /** Takes or renews leases. */
  grant(grants: readonly LeaseGrant[]): Promise<unknown> {
    if (grants.length === 0) return Promise.resolve();
    const pipeline = this.redis.pipeline();
    for (const { id, ttlMs } of grants) pipeline.set(this.keys.lease(id), '1', 'PX', ttlMs);
    const byShard = groupByGrant(grants, ({ id, ttlMs }) => [id, ttlMs]);
    return Promise.all([pipeline.exec(), ...[...byShard.values()].map(({ grant, args }) => this.deadlines(grant, 'grant', args))]);
  }

  release(leases: readonly { id: string; grant: ShardGrant }[]): Promise<unknown> {
    if (leases.length === 0) return Promise.resolve();
    const byShard = groupByGrant(leases, ({ id }) => [id]);
    return Promise.all([
      this.redis.del(...leases.map(({ id }) => this.keys.lease(id))),
      ...[...byShard.values()].map(({ grant, args }) => this.deadlines(grant, 'release', args)),
    ]);
  }

  async renewKey(id: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.lease(id), '1', 'PX', ttlMs);
  }

  /**
   * Ids of the shard whose lease lapsed; each is reported once. Two fenced steps around a read:
   * the due ids (by Redis time), then the lease keys' PTTLs, then a confirm that re-scores the
   * renewed ones and removes the lapsed ones. Rejects with FencedError if the shard is not ours.
   */
  async reap(grant: ShardGrant, limit: number, defaultTtlMs: number): Promise<string[]> {
    const keys = this.keys.shard(grant.shard);
    const due = (await this.scripts.leaseholdReapDue(keys.owner, keys.leaseDeadlines, this.replicaId, grant.epoch, limit).catch(rethrowFenced)) as string[];
    if (due.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of due) pipeline.pttl(this.keys.lease(id));
    const ttls = ((await pipeline.exec()) ?? []).map(([error, ttl]) => (error ? 1 : Number(ttl)));
    const pairs = due.flatMap((id, i) => [id, ttls[i] ?? 1]);
    return (await this.scripts
      .leaseholdReapConfirm(keys.owner, keys.leaseDeadlines, this.replicaId, grant.epoch, defaultTtlMs, ...pairs)
      .catch(rethrowFenced)) as string[];
  }

  /** Remaining time on a lease in ms, or null when there is none. */
  async remaining(id: string): Promise<number | null> {
    const ttl = await this.redis.pttl(this.keys.lease(id));
    return ttl >= 0 ? ttl : null;
  }

  private async deadlines(grant: ShardGrant, op: 'grant' | 'release', args: (string | number)[]): Promise<void> {
    const keys = this.keys.shard(grant.shard);
    try {
      await this.scripts.leaseholdDeadlines(keys.owner, keys.leaseDeadlines, this.replicaId, grant.epoch, op, ...args).catch(rethrowFenced);
    } catch (error) {
      if (!(error instanceof FencedError)) throw error;
      this.onFenced(grant);
    }
  }
}

function groupByGrant<T extends { grant: ShardGrant }>(items: readonly T[], args: (item: T) => (string | number)[]) {
  const groups = new Map<string, { grant: ShardGrant; args: (string | number)[] }>();
  for (const item of items) {
    const key = `${item.grant.shard}:${item.grant.epoch}`;
    const group = groups.get(key) ?? { grant: item.grant, args: [] };
    group.args.push(...args(item));
    groups.set(key, group);
  }
  return groups;
}
