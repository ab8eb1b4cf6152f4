/**
 * N control planes on one Redis, NATS and key prefix, each its own process with its own replica
 * id (bench/plane.ts with `replicaId`, what `leasehold start --replica-id` sets), as an
 * installation scaled to N runs them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createKeys, type Keys } from '../src/keys.js';
import { startPlane, stopChild, type Child } from './children.js';

export class ReplicaGroup {
  private constructor(
    readonly keys: Keys,
    readonly planes: Map<string, Child>,
    private readonly stateDir: string,
  ) {}

  /**
   * Starts `count` replicas `r1`…`rN` and resolves once every shard is owned and each replica
   * holds its share, so that no measurement includes shards moving between replicas.
   */
  static async start(redis: Redis, urls: { redis: string; nats: string }, prefix: string, count: number, extra: Record<string, unknown> = {}): Promise<ReplicaGroup> {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-bench-'));
    const ids = Array.from({ length: count }, (_, i) => `r${i + 1}`);
    const planes = await Promise.all(ids.map((replicaId) => startPlane(urls.redis, urls.nats, prefix, { replicaId, stateDir, ...extra })));
    const group = new ReplicaGroup(createKeys(prefix), new Map(ids.map((id, i) => [id, planes[i]!])), stateDir);
    await group.untilBalanced(redis);
    return group;
  }

  /** shard → its owner while its lease runs, null when unowned or lapsed (Redis time). */
  async owners(redis: Redis): Promise<(string | null)[]> {
    const pipeline = redis.pipeline();
    for (let shard = 0; shard < this.keys.shardCount; shard++) pipeline.hmget(this.keys.shard(shard).owner, 'owner', 'expiresAt');
    pipeline.time();
    const replies = ((await pipeline.exec()) ?? []).map(([, value]) => value);
    const [seconds, micros] = replies.pop() as [string, string];
    const now = Number(seconds) * 1000 + Number(micros) / 1000;
    return (replies as (string | null)[][]).map(([owner, expiresAt]) => (owner && Number(expiresAt) > now ? owner : null));
  }

  async untilBalanced(redis: Redis, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const share = Math.floor(this.keys.shardCount / this.planes.size);
    for (;;) {
      const owners = await this.owners(redis);
      const counts = [...this.planes.keys()].map((id) => owners.filter((owner) => owner === id).length);
      if (owners.every((owner) => owner !== null) && counts.every((n) => n >= share - 1)) return;
      if (performance.now() > deadline) throw new Error(`shards not balanced among ${this.planes.size} replicas: ${counts.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** kill -9: no persisting, no release; its shards lapse with their leases. */
  async kill(id: string): Promise<void> {
    const plane = this.planes.get(id)!;
    const exited = new Promise((resolve) => plane.process.once('exit', resolve));
    plane.process.kill('SIGKILL');
    await exited;
    this.planes.delete(id);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.planes.values()].map((plane) => stopChild(plane)));
    this.planes.clear();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
