import type { ObservedStatus, ProvisionResult, WorkloadEvent } from '../../machines/index.js';
import type { WorkloadSpec } from '../spec/index.js';
import type { ExecOutput, ExecRequest, ExecResult } from './exec.js';

/** What a runtime tells the control plane on its own, without being asked. */
export type RuntimeEvent = Extract<WorkloadEvent, { type: `runtime.${string}` }>;
export type RuntimeListener = (id: string, event: RuntimeEvent) => void;

/**
 * The variables a `heartbeat: self` workload gets: the endpoint over TCP, its token, and the same
 * endpoint on a Unix socket of this host (a runtime that isolates the network binds that socket in,
 * or drops the variable when the workload cannot reach this host's files).
 */
export const HEARTBEAT_ENV = {
  url: 'LEASEHOLD_HEARTBEAT_URL',
  token: 'LEASEHOLD_HEARTBEAT_TOKEN',
  socket: 'LEASEHOLD_HEARTBEAT_SOCKET',
} as const;

/** What the control plane hands a workload besides its spec: how to reach its heartbeat endpoint. */
export interface ProvisionContext {
  readonly signal?: AbortSignal;
  /**
   * Extra environment for the workload (heartbeat URL, token and socket), set by the control plane
   * and trusted: a sandbox takes the host path it binds in from here (HEARTBEAT_ENV.socket), never
   * from the spec's env, whose LEASEHOLD_ names the schema refuses. Never the control plane's own.
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Who provisions it: the replica, and the shard and fencing epoch it holds the workload under.
   * A runtime that leaves something behind (a Pod) marks it with these, so an operator can tell
   * which owner made it after a takeover.
   */
  readonly owner?: WorkloadOwner;
}

export interface WorkloadOwner {
  readonly replica: string;
  readonly shard: number;
  readonly epoch: number;
}

/** A stretch of a workload's output, placed by byte offsets in all of its output (stdout and stderr as read). */
export interface LogWindow {
  /** The offset of the first byte of `text`: later than asked when what was asked is no longer kept. */
  readonly start: number;
  /** The offset just past its last byte: where the next read starts. */
  readonly end: number;
  /** The bytes from `start` to `end`, as UTF-8; both ends fall between characters. */
  readonly text: string;
}

/**
 * The one port every place a workload can run implements. Adapters live beside this file.
 *
 * Contract, checked by test/runtime/conformance.ts for every adapter:
 * - `provision` is idempotent per id: a second call for a live workload starts nothing new.
 * - `teardown` is idempotent: tearing down what is not there succeeds.
 * - changes (started, exited, vanished) are pushed to `watch` listeners; nobody polls `status`
 *   per workload. `status` is for reconciliation after a restart.
 */
export interface WorkloadRuntime {
  readonly name: string;
  /** Whether this runtime isolates its workloads well enough for `untrusted` work. */
  readonly isolated: boolean;
  /**
   * Whether its workloads outlive this process and another replica can adopt them (Pods: yes).
   * Absent or false (local child processes): a replica that hands a shard over ends them first.
   */
  readonly adoptable?: boolean;
  /** Why this runtime cannot be used now (for example: bubblewrap missing), or null when it can. */
  unavailableReason(): string | null;
  start(): Promise<void>;
  provision(id: string, spec: WorkloadSpec, context?: ProvisionContext): Promise<ProvisionResult>;
  status(id: string): Promise<ObservedStatus>;
  teardown(id: string): Promise<void>;
  watch(listener: RuntimeListener): () => void;
  /** Ids of every workload this runtime holds, live or finished-but-not-torn-down; for orphan collection. */
  list(): Promise<string[]>;
  /** The tail of the workload's output, where the runtime keeps one. */
  logs(id: string): Promise<string | null>;
  /**
   * The output from byte `from` of all the workload's output on, as far as the runtime still
   * holds it: what `leasehold logs -f` reads, so that it prints each byte once. Where a runtime
   * has no byte offsets (it is absent), followers fall back to comparing tails.
   */
  logsFrom?(id: string, from: number): Promise<LogWindow | null>;
  /** Counters worth watching in production (exported on /metrics), where the runtime has any. */
  stats?(): Readonly<Record<string, number>>;
  /** Runs a command inside a running workload, where the runtime can (see exec.ts). */
  exec?(id: string, request: ExecRequest, output: ExecOutput, signal: AbortSignal): Promise<ExecResult>;
  close(): Promise<void>;
}
