import type { Redis } from 'ioredis';
import type { Keys } from '../keys.js';
import type { Logger } from '../log.js';
import { defineScripts, type ScriptCommand } from '../lua.js';
import { FencedError, loadFencedLua, rethrowFenced } from '../ownership/fencing.js';
import type { ShardGrant } from '../ownership/ownership.js';
import type { WorkloadSpec } from '../spec/index.js';
import type { SnapshotReader, StoredWorkload } from '../supervisor/ports.js';

const SCRIPTS = {
  leaseholdSave: { lua: loadFencedLua(import.meta.url, 'save.lua') },
  leaseholdDrainInbox: { numberOfKeys: 2, lua: loadFencedLua(import.meta.url, 'drain-inbox.lua') },
};
/** save.lua's answer for a snapshot older than the stored one. */
const REFUSED_OLDER = 0;

interface Pending {
  read: SnapshotReader;
  grant: ShardGrant;
  finishSeconds: number | null;
}

/**
 * Persisted workload snapshots, one Redis hash per workload in its shard's slot. Writes are
 * coalesced: transitions of the same workload within one tick become one write, and the writes
 * of a tick go as one fenced script per shard (save.lua), all in one round trip. `whenDurable()`
 * lets a caller wait until what it wrote is in Redis, which provisioning does so that a crash can
 * never leave a started workload that the store still calls queued.
 *
 * A write refused by the fence is dropped, not retried, and `onFenced` is told: the shard is lost.
 */
export class RedisWorkloadStore {
  private pending = new Map<string, Pending>();
  private flushScheduled: Promise<void> | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  /** Ids whose end was published, by shard, to leave the active sets in the next tick. */
  private announcedIds = new Map<number, string[]>();
  /** What `whenDurable` hands out; dropped whenever a flush is scheduled that it does not cover. */
  private durable: Promise<void> | null = null;

  private readonly scripts: Record<keyof typeof SCRIPTS, ScriptCommand>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly log: Logger,
    private readonly replicaId: string,
    private readonly onFenced: (grant: ShardGrant) => void,
  ) {
    this.scripts = defineScripts(redis, SCRIPTS);
  }

  save(id: string, grant: ShardGrant, read: SnapshotReader): void {
    const pending = this.pending.get(id);
    if (!pending || pending.grant.epoch !== grant.epoch) this.pending.set(id, { read, grant, finishSeconds: pending?.finishSeconds ?? null });
    void this.scheduleFlush();
  }

  /** The last write for a workload: keeps its record for `retentionSeconds` (for status and dedupe). */
  finish(id: string, grant: ShardGrant, read: SnapshotReader, retentionSeconds: number): void {
    this.pending.set(id, { read, grant, finishSeconds: retentionSeconds });
    void this.scheduleFlush();
  }

  /**
   * The end of a finished workload was published: its id leaves the shard's active set. Unfenced,
   * batched per tick: removing a finished id can only tidy, whoever owns the shard now.
   */
  announced(id: string, grant: ShardGrant): void {
    let ids = this.announcedIds.get(grant.shard);
    if (!ids) this.announcedIds.set(grant.shard, (ids = []));
    ids.push(id);
    if (this.announcedIds.size === 1 && ids.length === 1) {
      setImmediate(() => {
        const batch = this.announcedIds;
        this.announcedIds = new Map();
        const pipeline = this.redis.pipeline();
        for (const [shard, finished] of batch) pipeline.srem(this.keys.shard(shard).active, ...finished);
        pipeline.exec().catch((error: unknown) => this.log.warn({ err: error }, 'could not tidy the active set; the next owner announces those ends again'));
      });
    }
  }

  /** Forgets what waits to be written for a lost shard: it would be refused anyway. */
  drop(grant: ShardGrant): void {
    for (const [id, pending] of this.pending) if (pending.grant.shard === grant.shard && pending.grant.epoch === grant.epoch) this.pending.delete(id);
  }

  /** The ids recorded into the shard's inbox by other replicas since the last call (fenced). */
  async drainInbox(grant: ShardGrant, max = 10_000): Promise<string[]> {
    const keys = this.keys.shard(grant.shard);
    const ids = await this.scripts.leaseholdDrainInbox(keys.owner, keys.inbox, this.replicaId, grant.epoch, max).catch(rethrowFenced);
    return ids as string[];
  }

  /**
   * Resolves once everything saved so far is in Redis (or refused by the fence, which the store
   * reported before this resolves). The same promise is handed out until a new save needs a new
   * flush, so a caller can tell whether two waits cover the same writes.
   */
  whenDurable(): Promise<void> {
    return (this.durable ??= Promise.all([this.inFlight, this.flushScheduled]).then(() => undefined));
  }

  async load(id: string): Promise<StoredWorkload | null> {
    const hash = await this.redis.hgetall(this.keys.workload(id));
    return toStored(id, hash);
  }

  /** Every workload of the shard not yet torn down, in pages so a large set does not block Redis. */
  async *loadActive(shard: number, pageSize = 1_000): AsyncGenerator<StoredWorkload[]> {
    const active = this.keys.shard(shard).active;
    let cursor = '0';
    do {
      const [next, ids] = await this.redis.sscan(active, cursor, 'COUNT', pageSize);
      cursor = next;
      if (ids.length === 0) continue;
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.keys.workload(id));
      const replies = (await pipeline.exec()) ?? [];
      const page: StoredWorkload[] = [];
      ids.forEach((id, i) => {
        const stored = toStored(id, (replies[i]?.[1] ?? {}) as Record<string, string>);
        if (stored) page.push(stored);
        // A record that expired or was deleted by hand. (Unfenced: removing an id with no record
        // can only tidy, whoever owns the shard.)
        else void this.redis.srem(active, id);
      });
      yield page;
    } while (cursor !== '0');
  }

  async activeCount(): Promise<number> {
    const pipeline = this.redis.pipeline();
    for (let shard = 0; shard < this.keys.shardCount; shard++) pipeline.scard(this.keys.shard(shard).active);
    const replies = (await pipeline.exec()) ?? [];
    return replies.reduce((sum, [, count]) => sum + Number(count ?? 0), 0);
  }

  /** The flush that will carry what is pending now (scheduled unless one already is). */
  private scheduleFlush(): Promise<void> {
    if (this.flushScheduled) return this.flushScheduled;
    this.durable = null;
    this.flushScheduled = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.inFlight = this.flush();
      return this.inFlight;
    });
    return this.flushScheduled;
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.flushScheduled = null;
    const groups = new Map<string, { grant: ShardGrant; writes: [string, Pending][] }>();
    for (const entry of batch) {
      const { grant } = entry[1];
      const group = `${grant.shard}:${grant.epoch}`;
      const found = groups.get(group) ?? { grant, writes: [] };
      found.writes.push(entry);
      groups.set(group, found);
    }
    const failed: [string, Pending][] = [];
    let failure: unknown;
    await Promise.all(
      [...groups.values()].map(async ({ grant, writes }) => {
        try {
          await this.saveShard(grant, writes);
        } catch (error) {
          if (error instanceof FencedError) {
            this.log.warn({ shard: grant.shard, epoch: grant.epoch, count: writes.length }, 'snapshot writes refused: the shard has a new owner');
            this.onFenced(grant);
            return;
          }
          failure = error;
          failed.push(...writes);
        }
      }),
    );
    if (failed.length > 0) {
      // Put back what did not land, unless a newer write for the same workload arrived meanwhile.
      for (const [id, write] of failed) if (!this.pending.has(id)) this.pending.set(id, write);
      this.log.error({ err: failure, count: failed.length }, 'persisting snapshots failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await this.scheduleFlush();
    }
  }

  private async saveShard(grant: ShardGrant, writes: [string, Pending][]): Promise<void> {
    const keys = this.keys.shard(grant.shard);
    const fields: (string | number)[] = [];
    const retentions: string[] = [];
    for (const [id, write] of writes) {
      const { state, snapshot, seq } = write.read();
      fields.push(id, state, JSON.stringify(snapshot), seq);
      retentions.push(write.finishSeconds === null ? '' : String(write.finishSeconds));
    }
    const results = (await this.scripts
      .leaseholdSave(3 + writes.length, keys.owner, keys.active, ...writes.map(([id]) => this.keys.workload(id)), this.keys.finished(grant.shard), this.replicaId, grant.epoch, ...fields, ...retentions)
      .catch(rethrowFenced)) as number[];
    const older = writes.filter((_, i) => results[i] === REFUSED_OLDER).map(([id]) => id);
    if (older.length > 0) this.log.error({ workloads: older, shard: grant.shard }, 'snapshot refused: Redis holds a newer one (another writer)');
  }
}

function toStored(id: string, hash: Record<string, string>): StoredWorkload | null {
  if (!hash.spec) return null;
  const spec = JSON.parse(hash.spec) as WorkloadSpec;
  const snapshot = hash.snapshot ? (JSON.parse(hash.snapshot) as { context?: { spec?: WorkloadSpec } }) : null;
  // Snapshots are written without the spec, which is stored once in its own field.
  if (snapshot?.context) snapshot.context.spec = spec;
  return { id, spec, state: (hash.state ?? 'queued') as StoredWorkload['state'], snapshot, run: hash.run ?? '', replica: hash.replica ?? '' };
}
