import type { EndReason, LifecycleState, WorkloadType } from '../../machines/index.js';

/** One message per top-level transition, published on `workloads.<id>.<to>`. */
export interface TransitionMessage {
  readonly id: string;
  readonly type: WorkloadType;
  readonly from: LifecycleState | null;
  readonly to: LifecycleState;
  readonly event: string;
  readonly reason?: EndReason;
  readonly exitCode?: number;
  readonly error?: string;
  /** ISO 8601. */
  readonly at: string;
  /** Strictly increasing per workload, across restarts of the control plane and changes of owner. */
  readonly seq: number;
  /**
   * The fencing epoch under which the owning replica made this transition (see ownership): a
   * higher one means a newer owner. Absent from messages of versions before replicas.
   */
  readonly epoch?: number;
}

/** What `leasehold.status.<id>` answers. */
export interface WorkloadStatus {
  readonly id: string;
  readonly type: WorkloadType;
  readonly state: LifecycleState;
  readonly seq: number;
  readonly reason?: EndReason;
  readonly exitCode?: number;
  readonly error?: string;
  /** While provisioning: why it is not running yet, as the runtime says (`ErrImagePull: …`). */
  readonly waiting?: string;
  readonly timings: Partial<Record<LifecycleState, string>>;
}

export const SUBJECTS = {
  transition: (id: string, state: LifecycleState) => `workloads.${id}.${state}`,
  /** Everything, or one workload: `workloads.>` and `workloads.<id>.>`. */
  watch: (id?: string) => (id ? `workloads.${id}.>` : 'workloads.>'),
  status: (id: string) => `leasehold.status.${id}`,
  cancel: (id: string) => `leasehold.cancel.${id}`,
  logs: (id: string) => `leasehold.logs.${id}`,
  /** A request forwarded by a peer to the replica that owns the workload (control plane only). */
  replica: (replicaId: string, op: 'cancel' | 'logs', id: string) => `leasehold.replica.${replicaId}.${op}.${id}`,
  /** Broadcast between replicas: workloads were recorded into these shards' inboxes (control plane only). */
  inboxNudge: 'leasehold.replicas.inbox',
} as const;

/** The queue group the control subjects are served in: each request reaches one replica. */
export const CONTROL_QUEUE_GROUP = 'leasehold-control-plane';

/** The port the supervisor publishes through; the NATS adapter is one implementation. */
export interface TransitionPublisher {
  publish(message: TransitionMessage): void;
}

/** What the control subjects ask of the supervisor; `forwarded`: a peer sent it on (never forward again). */
export interface ControlHandlers {
  status(id: string): Promise<WorkloadStatus | null>;
  cancel(id: string, options?: { forwarded?: boolean }): Promise<{ ok: boolean; state?: LifecycleState; error?: string }>;
  logs(id: string, options?: { forwarded?: boolean }): Promise<string | null>;
}
