/**
 * Types shared by the workload machine and everything that drives it. This file is the bottom of
 * the dependency graph: it imports nothing, and everything else may import it.
 */

/** The lifecycle states, in the only order a workload can move through them. */
export const LIFECYCLE_STATES = ['queued', 'provisioning', 'running', 'expiring', 'tornDown'] as const;
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];

export const WORKLOAD_TYPES = ['trusted', 'untrusted'] as const;
export type WorkloadType = (typeof WORKLOAD_TYPES)[number];

/** Why a workload ended; carried by the `tornDown` event and the machine's output. */
export type EndReason =
  | 'completed' // exited with code 0
  | 'failed' // exited non-zero, or provisioning failed permanently
  | 'leaseExpired' // nobody renewed its lease in time
  | 'cancelled' // somebody asked
  | 'deadline' // it outlived maxLifetimeSeconds
  | 'lost' // the runtime no longer knows it, or it cannot be re-adopted after a restart
  | 'rejected' // never admitted (for example: untrusted work with no sandbox available)
  | 'provisionTimeout'; // the runtime did not start it in time

/** The minimum the machine needs to know of a spec; `src/spec` owns the full schema. */
export interface MachineSpec {
  readonly id: string;
  readonly type: WorkloadType;
  readonly maxLifetimeSeconds: number;
}

/** Retry and timeout policy; kept in context so that a restored actor keeps the policy it started with. */
export interface LifecyclePolicy {
  readonly provisionTimeoutMs: number;
  readonly maxProvisionAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly maxTeardownAttempts: number;
}

export const DEFAULT_POLICY: LifecyclePolicy = Object.freeze({
  provisionTimeoutMs: 60_000,
  maxProvisionAttempts: 5,
  backoffBaseMs: 200,
  backoffMaxMs: 10_000,
  maxTeardownAttempts: 5,
});

/** What a runtime says about a workload when asked (after a restart, for reconciliation). */
export type ObservedStatus =
  | { readonly state: 'notFound' }
  | { readonly state: 'pending'; readonly detail?: string }
  | { readonly state: 'running'; readonly adoptable: boolean }
  | { readonly state: 'exited'; readonly exitCode?: number; readonly detail?: string };

/** What `provision` resolves to: either already running, or accepted and still starting. */
export interface ProvisionResult {
  readonly state: 'running' | 'pending';
}


/**
 * Events are a discriminated union with namespaced types. Effects (provision, teardown) are
 * actions the machine names and the supervisor carries out; their results come back as
 * `runtime.*` events. Deadlines are absolute times in context; `timer.*` events are delivered by
 * one scheduler for all workloads, and the machine checks the deadline itself before acting.
 */
export type WorkloadEvent =
  | { type: 'workload.admit' }
  | { type: 'workload.reject'; reason: string }
  | { type: 'workload.cancel'; by?: string }
  | { type: 'workload.reconcile'; observed: ObservedStatus }
  | { type: 'lease.expired' }
  | { type: 'timer.provisionTimeout' }
  | { type: 'timer.lifetime' }
  | { type: 'runtime.provisioned'; result: ProvisionResult }
  /** `retryAfterMs`: the runtime was told when to come back (HTTP Retry-After); backoff waits at least that. */
  | { type: 'runtime.provisionFailed'; error: string; transient: boolean; retryAfterMs?: number }
  | { type: 'runtime.tornDown' }
  | { type: 'runtime.teardownFailed'; error: string; retryAfterMs?: number }
  | { type: 'runtime.running' }
  /** Still starting, and why (a Pod in `ErrImagePull`); kept to explain a provisioning timeout. */
  | { type: 'runtime.waiting'; detail: string }
  | { type: 'runtime.exited'; exitCode: number | null; signal?: string | null; detail?: string }
  | { type: 'runtime.failed'; error: string }
  | { type: 'runtime.lost'; detail?: string }
  /**
   * Sent by the supervisor once a backoff is over (at the context's `retryDueAt`): try the runtime
   * call again. One that is early, or late after the state was entered again, changes nothing.
   */
  | { type: 'retry.provision' }
  | { type: 'retry.teardown' };

export type Timings = Partial<Record<LifecycleState, number>>;

export interface WorkloadContext<S extends MachineSpec = MachineSpec> {
  readonly id: string;
  readonly spec: S;
  readonly policy: LifecyclePolicy;
  /** The top-level state last entered; lets entry bookkeeping ignore re-entries on reconcile. */
  phase: LifecycleState | null;
  /** Increases by one on every top-level transition; published as `seq`. */
  seq: number;
  /** The event that caused the last top-level transition, as published on NATS. */
  lastEvent: string;
  /** Absolute times (ms since epoch) each state was entered. */
  timings: Timings;
  /** Absolute deadlines, because XState does not restore `after` timers from a persisted snapshot. */
  provisionDeadlineAt: number | null;
  lifetimeDeadlineAt: number | null;
  provisionAttempts: number;
  teardownAttempts: number;
  reason: EndReason | null;
  exitCode: number | null;
  error: string | null;
  /** The runtime's last word on why the workload is not running yet; absent in older snapshots. */
  waiting?: string | null;
  /** The least wait before the next retry, from the last failure; absent in older snapshots. */
  retryAfterMs?: number | null;
  /** When the pending retry is due (absolute ms), or null/absent when none is pending. */
  retryDueAt?: number | null;
}

export interface WorkloadOutput {
  readonly id: string;
  readonly type: WorkloadType;
  readonly reason: EndReason;
  readonly exitCode: number | null;
  readonly error: string | null;
  readonly timings: Timings;
  /** Milliseconds spent in each state that was visited. */
  readonly durations: Partial<Record<LifecycleState, number>>;
}

/** What the machine needs from outside that is not I/O: time and randomness (for jitter). */
export interface MachineDeps {
  readonly now: () => number;
  readonly random: () => number;
}
