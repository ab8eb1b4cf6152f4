import type { EndReason, LifecycleState, WorkloadType } from '../../machines/index.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../runtime/exec.js';

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

/**
 * Every NATS subject (and the JetStream stream) of one installation. The default installation's
 * are the README's contract: `workloads.<id>.<state>`, `leasehold.status|cancel|logs.<id>`. A
 * named installation puts its name in front of each (`<name>.workloads.<id>.<state>`), so that a
 * subscription of one never matches a subject of another, the default's `workloads.>` included
 * (installation.ts keeps the names that would break this out).
 */
export interface Subjects {
  /** '' for the default. */
  readonly installation: string;
  transition(id: string, state: LifecycleState): string;
  /** Everything, or one workload: `workloads.>` and `workloads.<id>.>`. */
  watch(id?: string): string;
  status(id: string): string;
  cancel(id: string): string;
  logs(id: string): string;
  /** Heartbeats from a holder outside the workload (a session's): renew its lease, via any replica. */
  heartbeat(id: string): string;
  /** Exec requests (exec-protocol.ts). */
  exec(id: string): string;
  /** Where one exec's asker sends stdin, end of stdin, cancel and pings; `token` names the exec. */
  execInput(id: string, token: string): string;
  /** A request forwarded by a peer to the replica that owns the workload (control plane only). */
  replica(replicaId: string, op: 'cancel' | 'logs' | 'exec', id: string): string;
  /** Broadcast between replicas: workloads were recorded into these shards' inboxes (control plane only). */
  readonly inboxNudge: string;
  /** The JetStream stream that keeps `watch()` (with `--history`); one per installation. */
  readonly historyStream: string;
}

/** The subjects of installation `installation` ('' is the default); the name is checked by the caller (parseInstallation). */
export function subjectsFor(installation: string): Subjects {
  const at = installation === '' ? '' : `${installation}.`;
  return {
    installation,
    transition: (id, state) => `${at}workloads.${id}.${state}`,
    watch: (id) => (id ? `${at}workloads.${id}.>` : `${at}workloads.>`),
    status: (id) => `${at}leasehold.status.${id}`,
    cancel: (id) => `${at}leasehold.cancel.${id}`,
    logs: (id) => `${at}leasehold.logs.${id}`,
    heartbeat: (id) => `${at}leasehold.heartbeat.${id}`,
    exec: (id) => `${at}leasehold.exec.${id}`,
    execInput: (id, token) => `${at}leasehold.exec.${id}.${token}`,
    // One subject token per replica id, whatever dots it has (an FQDN host's default id, a Pod
    // name): nats.conf allows `leasehold.replica.*.cancel.*`. Ids never hold '~', so no two meet.
    replica: (replicaId, op, id) => `${at}leasehold.replica.${replicaId.replaceAll('.', '~')}.${op}.${id}`,
    inboxNudge: `${at}leasehold.replicas.inbox`,
    historyStream: installation === '' ? 'LEASEHOLD_TRANSITIONS' : `LEASEHOLD_TRANSITIONS_${installation}`,
  };
}

/** The default installation's subjects. */
export const SUBJECTS: Subjects = subjectsFor('');

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
  /** Renews the lease of running workload `id`, whichever replica owns it; false when it is not running. */
  heartbeat(id: string): Promise<boolean>;
}

/** What `leasehold.heartbeat.<id>` answers. */
export type HeartbeatReply = { ok: true } | { ok: false; error: string; state?: LifecycleState };

/** Why an exec did not run; stable for programs to branch on (exec-protocol.ts). */
export type ExecErrorCode =
  | 'NOT_FOUND'
  | 'NOT_RUNNING'
  | 'UNSUPPORTED'
  | 'BUSY'
  | 'INVALID_REQUEST'
  /** The workload's shard is changing owner: try again in a few seconds. */
  | 'MOVING'
  /** The runtime refused or failed to start the command. */
  | 'FAILED';

/** How the control plane reaches a workload's exec: here, at its owner (a peer), or not at all. */
export type ExecRoute =
  | { readonly run: (request: ExecRequest, output: ExecOutput, signal: AbortSignal) => Promise<ExecResult> }
  | { readonly owner: string }
  | { readonly error: string; readonly code: ExecErrorCode };

/** What the exec subjects ask of the supervisor; `forwarded`: a peer sent it on (never forward again). */
export interface ExecHandler {
  execRoute(id: string, options?: { forwarded?: boolean }): Promise<ExecRoute>;
}
