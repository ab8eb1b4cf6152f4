import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createKeys, type Keys } from '../../src/keys.js';
import { activeCount } from '../helpers/active-count.js';
import { startCliControlPlane } from '../helpers/cli.js';

export const SHARD_TTL_MS = 2_000;
export const SHARDS = 64;

export interface Replica {
  readonly id: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  logs(): string;
}

/** `leasehold start` processes sharing one Redis, NATS, key prefix and state directory. */
export class ReplicaSet {
  readonly replicas = new Map<string, Replica>();
  readonly keys: Keys;

  constructor(
    private readonly baseArgs: string[],
    readonly prefix: string,
  ) {
    this.keys = createKeys(prefix, SHARDS);
  }

  async start(id: string, extra: string[] = []): Promise<Replica> {
    const started = await startCliControlPlane([...this.baseArgs, '--replica-id', id, '--shard-ttl', String(SHARD_TTL_MS), ...extra]);
    const replica = { id, ...started };
    this.replicas.set(id, replica);
    return replica;
  }

  async kill(id: string, signal: NodeJS.Signals): Promise<void> {
    const replica = this.replicas.get(id)!;
    replica.child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') {
      await replica.exited;
      this.replicas.delete(id);
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.replicas.values()].map(async (replica) => {
        replica.child.kill('SIGCONT');
        replica.child.kill('SIGTERM');
        await replica.exited;
        if (process.env.LEASEHOLD_TEST_LOGS) writeFileSync(join(process.env.LEASEHOLD_TEST_LOGS, `${replica.id}.log`), replica.logs());
      }),
    );
    this.replicas.clear();
  }

  /** shard → owner id, as Redis says now (expired leases included: the owner field stays). */
  async owners(redis: Redis): Promise<{ owner: string | null; epoch: number }[]> {
    const pipeline = redis.pipeline();
    for (let shard = 0; shard < SHARDS; shard++) pipeline.hmget(this.keys.shard(shard).owner, 'owner', 'epoch', 'expiresAt');
    const replies = (await pipeline.exec()) ?? [];
    const now = Number((await redis.time())[0]) * 1000;
    return replies.map(([, value]) => {
      const [owner, epoch, expiresAt] = value as (string | null)[];
      return { owner: owner && Number(expiresAt) > now ? owner : null, epoch: Number(epoch ?? 0) };
    });
  }

  /** Until every shard is owned and every replica holds its share (give or take one shard). */
  async untilBalanced(redis: Redis, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const owners = await this.owners(redis);
      const share = Math.floor(SHARDS / this.replicas.size);
      const counts = [...this.replicas.keys()].map((id) => owners.filter(({ owner }) => owner === id).length);
      if (owners.every(({ owner }) => owner !== null) && counts.every((n) => n >= share - 1)) return;
      if (Date.now() > deadline) throw new Error(`shards not balanced: ${counts.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  activeCount(redis: Redis): Promise<number> {
    return activeCount(redis, this.keys);
  }
}
