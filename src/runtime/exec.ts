/**
 * Running a command inside a workload that is already running (a session, or any live workload).
 * Every runtime that can do it implements `WorkloadExec`; the supervisor reaches it through
 * `WorkloadRuntime.exec`.
 */
export interface ExecRequest {
  /** argv, never a shell string: a runtime passes each element through as one argument. */
  readonly cmd: readonly string[];
  /** Added to the workload's environment for this command only. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Set by the control plane itself, never from an asker: added after `env`, and may carry the
   * LEASEHOLD_ names `env` may not (a warm pool member's claimed run gets its own workload id).
   */
  readonly controlEnv?: Readonly<Record<string, string>>;
  /** Working directory; absent: the workload's own. */
  readonly cwd?: string;
  /** absent: stdin closed at once */
  readonly stdin?: AsyncIterable<Uint8Array>;
  readonly timeoutMs?: number;
}

/** Where output goes, chunk by chunk, as the command produces it. */
export interface ExecOutput {
  stdout(chunk: Uint8Array): void;
  stderr(chunk: Uint8Array): void;
}

/**
 * How the command ended. `exitCode` is null when it is not known: `reason` says why
 * ('timeout', 'cancelled', or a runtime message such as a lost connection).
 */
export interface ExecResult {
  readonly exitCode: number | null;
  readonly reason?: string;
}

/**
 * `exec` rejects (with a RuntimeError) only when the command could not be started: no such
 * workload, not running, not ours, refused by the runtime. Once started, every ending is a result.
 */
export interface WorkloadExec {
  exec(id: string, request: ExecRequest, output: ExecOutput, signal: AbortSignal): Promise<ExecResult>;
}
