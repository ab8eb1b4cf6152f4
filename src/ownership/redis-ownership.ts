import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { planBalance } from './balance.js';
import { OwnershipScripts } from './ownership-scripts.js';
import type { LossReason, ShardCallbacks, ShardGrant, ShardOwner, ShardOwnership, StopOptions } from './ownership.js';
import { JITTER, resolveOwnershipOptions, type OwnershipOptions } from './options.js';
import { shardOf } from './shards.js';

interface Held {
  readonly epoch: number;
  /** Monotonic time until which this replica may act for the shard without a newer renewal. */
  validUntil: number;
  /** The release is on its way: no more renewals, no more writes. */
  released: boolean;
}

type State = 'new' | 'running' | 'stopping' | 'stopped';

/** Rounds of read-plan-acquire per balance, for shards lost to a peer racing for the same ones. */
const BALANCE_ROUNDS = 3;

/**
 * Shard ownership on Redis: a membership key per replica, a lease per shard with a fencing
 * epoch, a balancing loop, and self-fencing on the monotonic clock.
 *
 * Timings, with T the TTL and f the fence fraction: a replica that dies loses its shards to its
 * peers within T + interval; one that stops gracefully hands them over within about `pollMs`;
 * a replica that cannot renew declares its shards lost f·T after its last renewal was *sent*,
 * which is before the lease can expire in Redis (at least T after Redis ran that renewal).
 */
export class RedisOwnership implements ShardOwnership {
  readonly replicaId: string;
  readonly shardCount: number;
  private readonly options: ReturnType<typeof resolveOwnershipOptions>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly scripts: OwnershipScripts;
  private readonly held = new Map<number, Held>();
  private state: State = 'new';
  private joined = false;
  private redisReachable = true;
  private lastChanges: string | null | undefined;
  private renewing = false;
  private heartbeating = false;
  private polling = false;
  private balancing: Promise<void> | null = null;
  private balanceAgain = false;
  private stopping: Promise<void> | undefined;
  private tickTimer: unknown;
  private pollTimer: unknown;
  private fenceTimer: unknown;

  constructor(
    redis: Redis | Cluster,
    private readonly callbacks: ShardCallbacks,
    options: OwnershipOptions = {},
  ) {
    this.options = resolveOwnershipOptions(options);
    this.replicaId = this.options.replicaId;
    this.shardCount = this.options.shardCount;
    this.clock = this.options.clock;
    this.log = (this.options.logger ?? silentLogger).child({ component: 'ownership', replica: this.replicaId });
    this.scripts = new OwnershipScripts(redis, this.options.prefix, this.replicaId, randomUUID(), this.shardCount);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('RedisOwnership.start() may be called once');
    this.state = 'running';
    await this.join();
    this.lastChanges = await this.scripts.changes();
    this.requestBalance();
    await this.balancing;
    this.scheduleTick();
    this.schedulePoll();
  }

  /** Idempotent: a second call (a second SIGTERM) waits for the first instead of releasing twice. */
  stop(options: StopOptions): Promise<void> {
    this.stopping ??= this.stopOnce(options);
    return this.stopping;
  }

  private async stopOnce({ release }: StopOptions): Promise<void> {
    if (this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    this.clock.clearTimeout(this.pollTimer);
    if (release) {
      // Renewals go on (the tick keeps running while stopping) until every shard is released.
      await this.balancing;
      await this.handOver([...this.held].filter(([, held]) => !held.released).map(([shard]) => shard));
      await this.scripts.leave().catch((error: unknown) => this.log.warn({ err: error }, 'could not leave the membership; peers will see it expire'));
    }
    this.state = 'stopped';
    this.clock.clearTimeout(this.tickTimer);
    this.clock.clearTimeout(this.fenceTimer);
    this.held.clear();
  }

  owned(): ReadonlyMap<number, number> {
    const now = this.clock.now();
    const owned = new Map<number, number>();
    for (const [shard, held] of this.held) if (!held.released && held.validUntil > now) owned.set(shard, held.epoch);
    return owned;
  }

  epochOf(shard: number): number | undefined {
    const held = this.held.get(shard);
    return held && !held.released && held.validUntil > this.clock.now() ? held.epoch : undefined;
  }

  reportFenced(grant: ShardGrant): void {
    const held = this.held.get(grant.shard);
    if (held && held.epoch === grant.epoch && !held.released) this.fence(grant.shard, 'refused');
  }

  shardOf(id: string): number {
    return shardOf(id, this.shardCount);
  }

  ownerOf(shard: number): Promise<ShardOwner | null> {
    return this.scripts.owner(shard);
  }

  members(): Promise<string[]> {
    return this.scripts.liveMembers();
  }

  /** Joins the membership; waits out a previous incarnation of this id (a restarted container). */
  private async join(): Promise<void> {
    const deadline = this.clock.now() + 2 * this.options.ttlMs;
    for (;;) {
      try {
        await this.scripts.heartbeat(this.options.ttlMs, this.shardCount);
        this.joined = true;
        return;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (message.startsWith('SHARD_COUNT ')) throw new ConfigError(message.slice('SHARD_COUNT '.length));
        if (!message.startsWith('REPLICA_TAKEN ')) throw error;
        if (this.clock.now() > deadline) throw new ConfigError(`${message.slice('REPLICA_TAKEN '.length)}: give each replica its own --replica-id`);
        await new Promise((resolve) => this.clock.setTimeout(() => resolve(undefined), this.options.pollMs));
      }
    }
  }

  private scheduleTick(): void {
    const delay = this.options.intervalMs * (1 - JITTER + 2 * JITTER * Math.random());
    this.tickTimer = this.clock.setTimeout(() => this.tick(), delay);
  }

  /** Never waits for the previous tick: a hung Redis must not stop the fence timer or later ticks. */
  private tick(): void {
    if (this.state !== 'running' && this.state !== 'stopping') return;
    this.scheduleTick();
    void this.heartbeat();
    void this.renewAll().then(() => {
      if (this.state === 'running') this.requestBalance();
    });
  }

  private schedulePoll(): void {
    this.pollTimer = this.clock.setTimeout(() => {
      if (this.state !== 'running') return;
      this.schedulePoll();
      void this.poll();
    }, this.options.pollMs);
  }

  /** A peer joined, left or released shards: balance now rather than at the next tick. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const changes = await this.scripts.changes();
      if (changes !== this.lastChanges) {
        this.lastChanges = changes;
        this.requestBalance();
      }
    } catch {
      // The tick reports Redis being unreachable.
    } finally {
      this.polling = false;
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeating) return;
    this.heartbeating = true;
    try {
      await this.scripts.heartbeat(this.options.ttlMs, this.shardCount);
      this.joined = true;
      this.reachable(true);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message.startsWith('REPLICA_TAKEN ') || message.startsWith('SHARD_COUNT ')) {
        // Our membership expired (a pause) and another process took the id: it will acquire our
        // shards with new epochs, which fences our writes; we stop taking shards.
        this.joined = false;
        this.log.error({ err: error }, 'membership refused; not taking shards');
      } else {
        this.reachable(false, error);
      }
    } finally {
      this.heartbeating = false;
    }
  }

  private async renewAll(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      const entries = [...this.held].filter(([, held]) => !held.released);
      // Validity counts from when the renewal was sent, not answered: Redis ran it after this.
      const sentAt = this.clock.now();
      const results = await Promise.allSettled(entries.map(([shard, held]) => this.scripts.renew(shard, held.epoch, this.options.ttlMs)));
      results.forEach((result, i) => {
        const [shard, held] = entries[i]!;
        if (this.held.get(shard) !== held || held.released) return;
        if (result.status === 'rejected') return this.reachable(false, result.reason);
        if (result.value) held.validUntil = Math.max(held.validUntil, sentAt + this.validityMs());
        else this.fence(shard, 'refused');
      });
    } finally {
      this.renewing = false;
      this.armFence();
    }
  }

  private validityMs(): number {
    return this.options.ttlMs * this.options.fenceFraction;
  }

  /** Declares lost every shard past its validity, and wakes up again at the next one due. */
  private armFence(): void {
    this.clock.clearTimeout(this.fenceTimer);
    this.fenceTimer = undefined;
    if (this.state === 'stopped') return;
    const now = this.clock.now();
    let next = Infinity;
    for (const [shard, held] of this.held) {
      if (held.released) continue;
      if (held.validUntil <= now) this.fence(shard, 'expired');
      else next = Math.min(next, held.validUntil);
    }
    if (next !== Infinity) this.fenceTimer = this.clock.setTimeout(() => this.armFence(), next - now);
  }

  private fence(shard: number, reason: LossReason): void {
    const held = this.held.get(shard);
    if (!held) return;
    this.held.delete(shard);
    this.log.warn({ shard, epoch: held.epoch, reason }, 'shard lost');
    try {
      this.callbacks.onLost({ shard, epoch: held.epoch }, reason);
    } catch (error) {
      this.log.error({ err: error, shard }, 'onLost threw');
    }
    // If Redis is reachable, free the shard now rather than when the lease expires.
    if (reason === 'expired') this.scripts.release(shard, held.epoch).catch(() => undefined);
  }

  private requestBalance(): void {
    if (this.balancing) {
      this.balanceAgain = true;
      return;
    }
    this.balancing = (async () => {
      do {
        this.balanceAgain = false;
        try {
          await this.balanceOnce();
        } catch (error) {
          this.reachable(false, error);
        }
      } while (this.balanceAgain && this.state === 'running');
    })().finally(() => {
      this.balancing = null;
    });
  }

  private async balanceOnce(): Promise<void> {
    for (let round = 0; round < BALANCE_ROUNDS; round++) {
      if (this.state !== 'running' || !this.joined) return;
      const [members, owners] = await Promise.all([
        this.scripts.liveMembers(),
        Promise.all(Array.from({ length: this.shardCount }, (_, shard) => this.scripts.owner(shard))),
      ]);
      if (this.state !== 'running') return;
      const plan = planBalance({
        me: this.replicaId,
        members,
        owners: owners.map((owner) => owner?.replicaId ?? null),
        // Held, in doubt included: a shard whose validity passed before its renewal was answered is
        // still ours until renewed or fenced. Counted as not ours, it was acquired again under a new
        // epoch while the old grant was never ended: its workloads waited on it forever.
        mine: new Set([...this.held].filter(([, held]) => !held.released).map(([shard]) => shard)),
      });
      if (plan.shed.length > 0) {
        this.log.info({ shards: plan.shed }, 'handing shards over to peers below their share');
        await this.handOver(plan.shed);
        await this.scripts.announceChange();
      }
      if (plan.acquire.length === 0) return;
      const acquired = await this.acquireAll(plan.acquire);
      if (acquired === plan.acquire.length) return;
    }
  }

  private async acquireAll(shards: readonly number[]): Promise<number> {
    const sentAt = this.clock.now();
    const results = await Promise.allSettled(shards.map((shard) => this.scripts.acquire(shard, this.options.ttlMs)));
    const validUntil = sentAt + this.validityMs();
    const restoring: Promise<void>[] = [];
    results.forEach((result, i) => {
      const shard = shards[i]!;
      if (result.status === 'rejected') return this.reachable(false, result.reason);
      const epoch = result.value;
      if (epoch === 0) return;
      if (this.state === 'stopped' || validUntil <= this.clock.now()) {
        // Too late to act on safely (the reply took most of the TTL, or we were stopped): give it back.
        this.scripts.release(shard, epoch).catch(() => undefined);
        return;
      }
      // Held already under an older epoch (acquired again while in doubt): that grant ends here,
      // as if fenced, so nothing waits on it; the new one restores from Redis.
      const previous = this.held.get(shard);
      if (previous && !previous.released && previous.epoch !== epoch) this.fence(shard, 'refused');
      this.held.set(shard, { epoch, validUntil, released: false });
      this.log.info({ shard, epoch }, 'shard acquired');
      restoring.push(
        this.callbacks.onAcquired({ shard, epoch }).catch((error: unknown) => this.log.error({ err: error, shard, epoch }, 'onAcquired failed')),
      );
    });
    this.armFence();
    await Promise.all(restoring);
    return restoring.length;
  }

  /** Graceful handover: the owner persists and stops (onReleasing), then the lease is released. */
  private async handOver(shards: readonly number[]): Promise<void> {
    const grants: ShardGrant[] = [];
    for (const shard of shards) {
      const held = this.held.get(shard);
      if (held && !held.released) grants.push({ shard, epoch: held.epoch });
    }
    await Promise.all(
      grants.map((grant) => this.callbacks.onReleasing(grant).catch((error: unknown) => this.log.error({ err: error, ...grant }, 'onReleasing failed'))),
    );
    const releasing = grants.flatMap((grant) => {
      const held = this.held.get(grant.shard);
      if (!held || held.epoch !== grant.epoch) return []; // lost while persisting
      held.released = true;
      return [{ grant, held }];
    });
    await Promise.all(
      releasing.map(async ({ grant, held }) => {
        try {
          await this.scripts.release(grant.shard, grant.epoch);
        } catch (error) {
          this.log.warn({ err: error, ...grant }, 'could not release the shard; it frees itself when its lease expires');
        }
        if (this.held.get(grant.shard) === held) this.held.delete(grant.shard);
      }),
    );
  }

  private reachable(ok: boolean, error?: unknown): void {
    if (ok && !this.redisReachable) this.log.info('Redis reachable again');
    if (!ok && this.redisReachable) this.log.warn({ err: error }, 'Redis unreachable: shards not renewed in time will be fenced');
    this.redisReachable = ok;
  }
}
