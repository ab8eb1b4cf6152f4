/**
 * Shard ownership, as a port: which shards this replica owns, under which fencing epoch, and
 * what it is told when that changes. The supervisor depends on this file only; the Redis adapter
 * (`redis-ownership.ts`) implements it.
 *
 * The contract the owner of a shard must keep:
 * - it drives that shard's workloads only between `onAcquired` and `onReleasing`/`onLost`;
 * - every write for the shard carries the grant's epoch and goes through a fenced script
 *   (`fencing.ts`), so a write from a replica that lost the shard is refused by Redis even if
 *   the replica has not noticed yet;
 * - on `onLost` it stops the shard's actors at once and writes nothing more for the shard.
 */

/** A shard held by this replica, with the fencing epoch of this acquisition. */
export interface ShardGrant {
  readonly shard: number;
  /** The fencing token: strictly higher on every acquisition of the shard, by anyone. */
  readonly epoch: number;
}

/** Who owns a shard now, as Redis says. */
export interface ShardOwner {
  readonly replicaId: string;
  readonly epoch: number;
}

/**
 * Why a shard was lost without a handover:
 * - `expired`: its renewal did not succeed within the local validity window (Redis unreachable,
 *   or this process was paused); declared before anyone else may take it;
 * - `refused`: Redis answered that the lease is no longer ours (someone took it).
 */
export type LossReason = 'expired' | 'refused';

export interface ShardCallbacks {
  /**
   * This replica now owns the shard: restore and reconcile its workloads. Called strictly after
   * the previous owner released it (or its lease expired). Rejections are logged; the shard
   * stays owned.
   */
  onAcquired(grant: ShardGrant): Promise<void>;
  /**
   * Graceful handover: persist and stop the shard's actors. The lease is kept (and renewed)
   * until this resolves, then released, so the next owner starts from what was persisted.
   */
  onReleasing(grant: ShardGrant): Promise<void>;
  /** Fenced: stop the shard's actors now and write nothing (any write would be refused anyway). */
  onLost(grant: ShardGrant, reason: LossReason): void;
}

export interface StopOptions {
  /**
   * true: hand every shard over (onReleasing, then release, then leave the membership), so peers
   * take over at once (SIGTERM). false: just stop renewing, as a crash would; peers take over
   * when the leases expire. No callback is called.
   */
  readonly release: boolean;
}

export interface ShardOwnership {
  readonly replicaId: string;
  readonly shardCount: number;
  /** Joins the membership and takes a first share of shards; resolves after their `onAcquired`. */
  start(): Promise<void>;
  stop(options: StopOptions): Promise<void>;
  /** The shards this replica owns now and may act for, with their epochs. A fresh copy. */
  owned(): ReadonlyMap<number, number>;
  /**
   * The epoch under which this replica may write for `shard`, or undefined if it does not own it
   * or its local validity has ended (checked against the clock on every call, so a paused
   * process sees the loss on waking even before the fence timer has run).
   */
  epochOf(shard: number): number | undefined;
  /**
   * A write under `grant` was refused with FencedError: the shard is lost. Calls onLost (reason
   * `refused`) at once if the shard is still held under that epoch, rather than at the next renewal.
   */
  reportFenced(grant: ShardGrant): void;
  /** The shard of a workload id (the same function for every replica: see shards.ts). */
  shardOf(id: string): number;
  /** The shard's live owner as Redis says now, or null if it is free; for forwarding requests. */
  ownerOf(shard: number): Promise<ShardOwner | null>;
  /** The ids of the live replicas, as Redis says now. */
  members(): Promise<string[]>;
}
