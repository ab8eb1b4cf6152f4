import type { Cluster, Redis } from 'ioredis';
import type { LossReason, ShardGrant } from '../../src/ownership/ownership.js';
import type { OwnershipOptions } from '../../src/ownership/options.js';
import { RedisOwnership } from '../../src/ownership/redis-ownership.js';
import { redisClient } from '../helpers/servers.js';

/** One line of the shared, totally ordered log of what every in-process replica was told. */
export type OwnershipEvent = { replica: string; shard: number; epoch: number; /** performance.now() */ at: number } & (
  | { kind: 'acquired' | 'releasing' | 'released' }
  | { kind: 'lost'; reason: LossReason }
);

export interface TestReplica {
  readonly id: string;
  readonly ownership: RedisOwnership;
  readonly redis: Redis | Cluster;
  close(options?: { release: boolean }): Promise<void>;
}

/**
 * Replicas in this process that log every callback into one array, so a test can check the
 * order of events across replicas (this process has one event loop: the log is a total order).
 */
export class ReplicaSet {
  readonly log: OwnershipEvent[] = [];
  private readonly replicas: TestReplica[] = [];

  constructor(
    url: string,
    private readonly defaults: OwnershipOptions,
    private readonly client: () => Redis | Cluster = () => redisClient(url),
  ) {}

  /** `onReleasing` takes `persistMs`, as persisting a shard's actors would. */
  async start(id: string, options: OwnershipOptions & { persistMs?: number; onReleasing?: (grant: ShardGrant) => Promise<void> } = {}): Promise<TestReplica> {
    const redis = this.client();
    redis.on('error', () => undefined); // outage tests cut Redis off on purpose
    const log = this.log;
    const ownership = new RedisOwnership(
      redis,
      {
        async onAcquired(grant) {
          log.push({ kind: 'acquired', replica: id, ...grant, at: performance.now() });
        },
        async onReleasing(grant) {
          log.push({ kind: 'releasing', replica: id, ...grant, at: performance.now() });
          await options.onReleasing?.(grant);
          if (options.persistMs) await new Promise((resolve) => setTimeout(resolve, options.persistMs));
          log.push({ kind: 'released', replica: id, ...grant, at: performance.now() });
        },
        onLost(grant, reason) {
          log.push({ kind: 'lost', replica: id, ...grant, reason, at: performance.now() });
        },
      },
      { ...this.defaults, ...options, replicaId: id },
    );
    let closed = false;
    const replica: TestReplica = {
      id,
      ownership,
      redis,
      async close(closeOptions = { release: false }) {
        if (closed) return;
        closed = true;
        await ownership.stop(closeOptions);
        redis.disconnect();
      },
    };
    this.replicas.push(replica);
    await ownership.start();
    return replica;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.replicas.map((replica) => replica.close()));
  }

  /** Per shard, the epochs of its acquisitions in the order they happened. */
  epochsByShard(): Map<number, number[]> {
    const epochs = new Map<number, number[]>();
    for (const event of this.log) if (event.kind === 'acquired') epochs.set(event.shard, [...(epochs.get(event.shard) ?? []), event.epoch]);
    return epochs;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
