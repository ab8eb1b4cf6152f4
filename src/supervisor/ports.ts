import type { LifecycleState, Timings, WorkloadType } from '../../machines/index.js';
import type { TransitionMessage } from '../events/transition.js';
import type { ShardGrant, ShardOwner } from '../ownership/ownership.js';
import type { WorkloadRuntime } from '../runtime/runtime.js';
import type { WorkloadSpec } from '../spec/index.js';

/**
 * What the supervisor needs from the outside, as interfaces: it never imports ioredis, nats or
 * client-node, nor the adapters' files. The Redis and NATS adapters satisfy these structurally.
 * Every write for a workload carries the grant (shard and fencing epoch) it is made under.
 */

export interface StoredWorkload {
  readonly id: string;
  readonly spec: WorkloadSpec;
  readonly state: LifecycleState;
  /** `actor.getPersistedSnapshot()` as JSON; absent until the supervisor first wrote it. */
  readonly snapshot: unknown;
  /** The nonce of this run, written when intake recorded it; '' for records from before runs. */
  readonly run: string;
  /** The replica that wrote the snapshot; '' when none was written yet. */
  readonly replica: string;
}

/** Read at flush time, not at save time: several transitions within a tick cost one serialization. */
export type SnapshotReader = () => { state: LifecycleState; snapshot: unknown; seq: number };

export interface SnapshotStore {
  /** `read` is called when the write happens, so it sees the latest state. Fenced by `grant`. */
  save(id: string, grant: ShardGrant, read: SnapshotReader): void;
  finish(id: string, grant: ShardGrant, read: SnapshotReader, retentionSeconds: number): void;
  /** The end of a finished workload was published; until then it stays among the shard's unfinished. */
  announced(id: string, grant: ShardGrant): void;
  /** Forgets unwritten writes made under a grant that is lost. */
  drop(grant: ShardGrant): void;
  /**
   * Resolves once every write made so far is in Redis or refused. Hands out the same promise
   * until a later write needs a later flush: the supervisor batches publishes by it.
   */
  whenDurable(): Promise<void>;
  load(id: string): Promise<StoredWorkload | null>;
  /** The shard's unfinished workloads, in pages. */
  loadActive(shard: number): AsyncIterable<StoredWorkload[]>;
  /** Ids other replicas recorded into the shard since the last call (fenced). */
  /** At most `max` ids (the rest stay for the next drain). */
  drainInbox(grant: ShardGrant, max?: number): Promise<string[]>;
}

export interface LeaseGrant {
  readonly id: string;
  readonly ttlMs: number;
  readonly grant: ShardGrant;
}

export interface LeaseStore {
  grant(grants: readonly LeaseGrant[]): Promise<unknown>;
  release(leases: readonly { id: string; grant: ShardGrant }[]): Promise<unknown>;
  /** Renews the lease key alone (a heartbeat for a workload another replica owns); its owner's reaper re-scores it. */
  renewKey(id: string, ttlMs: number): Promise<void>;
}

/** Picks the runtime for a spec, or says why there is none (untrusted work with no sandbox). */
export interface RuntimeRouter {
  route(spec: WorkloadSpec): { runtime: WorkloadRuntime } | { rejection: string };
  all(): WorkloadRuntime[];
}

/** Where a self-heartbeating workload sends its heartbeats; null when the HTTP endpoint is off. */
export interface HeartbeatEndpoint {
  /** `run` is the nonce of this run of the workload, which its token is bound to. */
  envFor(id: string, run: string): Record<string, string>;
}

/** Told about everything that happens; metrics and the inspector listen here. */
export interface SupervisorObserver {
  transition?(message: TransitionMessage, timings: Timings): void;
  leaseExpired?(id: string, type: WorkloadType): void;
  runtimeError?(runtime: string): void;
}

/** Asks the replica that owns a workload to cancel it or show its logs (over NATS); null if nobody answered. */
export interface PeerForwarder {
  cancel(replicaId: string, id: string): Promise<{ ok: boolean; state?: LifecycleState; error?: string } | null>;
  logs(replicaId: string, id: string): Promise<string | null>;
}

/** The part of the ShardOwnership port (src/ownership/ownership.ts) the supervisor uses. */
export interface SupervisorOwnership {
  readonly replicaId: string;
  epochOf(shard: number): number | undefined;
  owned(): ReadonlyMap<number, number>;
  reportFenced(grant: ShardGrant): void;
  shardOf(id: string): number;
  ownerOf(shard: number): Promise<ShardOwner | null>;
}
