import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { FencedError } from '../ownership/fencing.js';
import type { ShardGrant } from '../ownership/ownership.js';

/** The part of the lease store the reaper uses. */
export interface ReapableLeases {
  reap(grant: ShardGrant, limit: number, defaultTtlMs: number): Promise<string[]>;
}

/** The shards this replica owns now (shard → epoch), and where to report a fenced one. */
export interface ReaperOwnership {
  owned(): ReadonlyMap<number, number>;
  reportFenced(grant: ShardGrant): void;
}

export interface ReaperOptions {
  readonly intervalMs: number;
  /** Ids per Redis call; a larger backlog is drained in consecutive calls within one tick. */
  readonly batch: number;
  readonly defaultTtlMs: number;
}

/**
 * One timer for all leases of the shards this replica owns (each replica reaps only its own, so
 * no lapsed lease is consumed by a replica that does not hold its workload). The reaper only
 * reports: each lapsed id becomes an event for its actor, and the actor decides what that means.
 */
export class Reaper {
  private timer: unknown = null;
  private running = false;
  private stopped = false;

  constructor(
    private readonly leases: ReapableLeases,
    private readonly ownership: ReaperOwnership,
    private readonly clock: Clock,
    private readonly options: ReaperOptions,
    private readonly onLapsed: (ids: string[]) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** One pass; returns how many lapsed leases it found. Exposed for tests and the benchmark. */
  async sweep(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let found = 0;
    try {
      const perShard = await Promise.all([...this.ownership.owned()].map(([shard, epoch]) => this.sweepShard({ shard, epoch })));
      found = perShard.reduce((a, b) => a + b, 0);
    } finally {
      this.running = false;
    }
    return found;
  }

  private async sweepShard(grant: ShardGrant): Promise<number> {
    let found = 0;
    try {
      for (;;) {
        const ids = await this.leases.reap(grant, this.options.batch, this.options.defaultTtlMs);
        if (ids.length > 0) this.onLapsed(ids);
        found += ids.length;
        if (ids.length < this.options.batch) break;
      }
    } catch (error) {
      if (error instanceof FencedError) this.ownership.reportFenced(grant);
      else this.log.warn({ err: error, shard: grant.shard }, 'lease reaper pass failed; will retry');
    }
    return found;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      void this.sweep().finally(() => this.schedule());
    }, this.options.intervalMs);
  }
}
