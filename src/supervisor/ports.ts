import type { Timings, WorkloadType } from '../../machines/index.js';
import type { TransitionMessage } from '../events/transition.js';
import type { LeaseGrant } from '../lease/redis-leases.js';
import type { WorkloadRuntime } from '../runtime/runtime.js';
import type { WorkloadSpec } from '../spec/index.js';
import type { SnapshotReader, StoredWorkload } from '../store/redis-store.js';

/**
 * What the supervisor needs from the outside, as interfaces: it never imports ioredis, nats or
 * client-node. The Redis and NATS adapters satisfy these structurally.
 */
export interface SnapshotStore {
  /** `read` is called when the write happens, so it sees the latest state. */
  save(id: string, read: SnapshotReader): void;
  finish(id: string, read: SnapshotReader, retentionSeconds: number): void;
  whenDurable(): Promise<void>;
  load(id: string): Promise<StoredWorkload | null>;
  loadActive(): AsyncIterable<StoredWorkload[]>;
}

export interface LeaseStore {
  grant(grants: readonly LeaseGrant[], now: number): Promise<unknown>;
  release(ids: readonly string[]): Promise<unknown>;
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
