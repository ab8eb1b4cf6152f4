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
  /** Strictly increasing per workload, across restarts of the control plane. */
  readonly seq: number;
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
} as const;

/** The port the supervisor publishes through; the NATS adapter is one implementation. */
export interface TransitionPublisher {
  publish(message: TransitionMessage): void;
}

/** What the control subjects ask of the supervisor. */
export interface ControlHandlers {
  status(id: string): Promise<WorkloadStatus | null>;
  cancel(id: string): Promise<{ ok: boolean; state?: LifecycleState; error?: string }>;
  logs(id: string): Promise<string | null>;
}
