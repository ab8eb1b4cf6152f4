import type { Redis } from 'ioredis';
import type { LifecycleState } from '../../machines/index.js';
import type { Keys } from '../keys.js';
import type { Logger } from '../log.js';
import type { WorkloadSpec } from '../spec/index.js';

export interface StoredWorkload {
  readonly id: string;
  readonly spec: WorkloadSpec;
  readonly state: LifecycleState;
  /** `actor.getPersistedSnapshot()` as JSON; absent until the supervisor first wrote it. */
  readonly snapshot: unknown;
  /** The nonce of this run, written when intake recorded it; '' for records from before runs. */
  readonly run: string;
}

/** Read at flush time, not at save time: several transitions within a tick cost one serialization. */
export type SnapshotReader = () => { state: LifecycleState; snapshot: unknown };

interface Pending {
  read: SnapshotReader;
  finishSeconds: number | null;
}

/**
 * Persisted workload snapshots, one Redis hash per workload. Writes are coalesced: transitions of
 * the same workload within one tick become one HSET, and all writes of a tick travel in one
 * pipeline. `whenDurable()` lets a caller wait until what it wrote is in Redis, which provisioning
 * does so that a crash can never leave a started workload that the store still calls queued.
 */
export class RedisWorkloadStore {
  private pending = new Map<string, Pending>();
  private flushScheduled: Promise<void> | null = null;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly log: Logger,
  ) {}

  save(id: string, read: SnapshotReader): void {
    if (!this.pending.has(id)) this.pending.set(id, { read, finishSeconds: null });
    void this.scheduleFlush();
  }

  /** The last write for a workload: keeps its record for `retentionSeconds` (for status and dedupe). */
  finish(id: string, read: SnapshotReader, retentionSeconds: number): void {
    this.pending.set(id, { read, finishSeconds: retentionSeconds });
    void this.scheduleFlush();
  }

  /** Resolves once everything saved so far is in Redis. */
  whenDurable(): Promise<void> {
    return Promise.all([this.inFlight, this.flushScheduled]).then(() => undefined);
  }

  async load(id: string): Promise<StoredWorkload | null> {
    const hash = await this.redis.hgetall(this.keys.workload(id));
    return toStored(id, hash);
  }

  /** Every workload not yet torn down, in pages so a large set does not block Redis. */
  async *loadActive(pageSize = 1_000): AsyncGenerator<StoredWorkload[]> {
    let cursor = '0';
    do {
      const [next, ids] = await this.redis.sscan(this.keys.active, cursor, 'COUNT', pageSize);
      cursor = next;
      if (ids.length === 0) continue;
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.keys.workload(id));
      const replies = (await pipeline.exec()) ?? [];
      const page: StoredWorkload[] = [];
      ids.forEach((id, i) => {
        const stored = toStored(id, (replies[i]?.[1] ?? {}) as Record<string, string>);
        if (stored) page.push(stored);
        else void this.redis.srem(this.keys.active, id); // a record that expired or was deleted by hand
      });
      yield page;
    } while (cursor !== '0');
  }

  async activeCount(): Promise<number> {
    return this.redis.scard(this.keys.active);
  }

  /** The flush that will carry what is pending now (scheduled unless one already is). */
  private scheduleFlush(): Promise<void> {
    this.flushScheduled ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.inFlight = this.flush();
      return this.inFlight;
    });
    return this.flushScheduled;
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.flushScheduled = null;
    const pipeline = this.redis.pipeline();
    const finished: string[] = [];
    for (const [id, write] of batch) {
      const key = this.keys.workload(id);
      const { state, snapshot } = write.read();
      pipeline.hset(key, 'state', state, 'snapshot', JSON.stringify(snapshot));
      if (write.finishSeconds !== null) {
        pipeline.expire(key, write.finishSeconds);
        finished.push(id);
      }
    }
    if (finished.length > 0) pipeline.srem(this.keys.active, ...finished);
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
    } catch (error) {
      // Put back what did not land, unless a newer write for the same workload arrived meanwhile.
      for (const [id, write] of batch) if (!this.pending.has(id)) this.pending.set(id, write);
      this.log.error({ err: error, count: batch.size }, 'persisting snapshots failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await this.scheduleFlush();
    }
  }
}

function toStored(id: string, hash: Record<string, string>): StoredWorkload | null {
  if (!hash.spec) return null;
  const spec = JSON.parse(hash.spec) as WorkloadSpec;
  const snapshot = hash.snapshot ? (JSON.parse(hash.snapshot) as { context?: { spec?: WorkloadSpec } }) : null;
  // Snapshots are written without the spec, which is stored once in its own field.
  if (snapshot?.context) snapshot.context.spec = spec;
  return { id, spec, state: (hash.state ?? 'queued') as LifecycleState, snapshot, run: hash.run ?? '' };
}
