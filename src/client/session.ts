import type { WorkloadSpec } from '../spec/index.js';
import type { CallOptions } from './deadline.js';
import { CancelRefusedError, WorkloadNotFoundError } from './errors.js';
import type { ExecHandle, ExecOptions } from './exec.js';
import type { DirEntry, ReadFileOptions, WriteFileOptions } from './files.js';
import type { WorkloadEnd } from './wait.js';

/** What a session handle needs of its client; the Leasehold class provides it. */
export interface SessionCalls {
  exec(id: string, cmd: readonly string[], options?: ExecOptions): ExecHandle;
  writeFile(id: string, path: string, content: Uint8Array | string | AsyncIterable<Uint8Array>, options?: WriteFileOptions): Promise<number>;
  readFile(id: string, path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  listDir(id: string, path: string, options?: ReadFileOptions): Promise<DirEntry[]>;
  heartbeat(id: string): Promise<void>;
  cancel(id: string): Promise<unknown>;
  wait(id: string, options?: CallOptions): Promise<WorkloadEnd>;
}

/** How long `close()` waits for the session's end by default. */
export const DEFAULT_SESSION_CLOSE_TIMEOUT_MS = 60_000;

/**
 * An open session: commands exec'd into it, its lease renewed every third of the lease while the
 * handle is open (so two heartbeats may be lost before it lapses), and ended by `close()` or the
 * end of an `await using` scope.
 *
 * @example
 * ```ts
 * await using session = await leasehold.session({ type: 'untrusted', image: 'python:3.12' });
 * const run = session.exec(['python', '-c', 'print(6 * 7)']);
 * for await (const chunk of run.stdout) process.stdout.write(chunk); // 42
 * ```
 */
export class SessionHandle implements AsyncDisposable {
  private readonly timer: NodeJS.Timeout;
  private closing: Promise<WorkloadEnd> | null = null;
  /** The last heartbeat's failure, if the last one failed (a lost connection, the session gone). */
  lastHeartbeatError: Error | null = null;

  constructor(
    private readonly calls: SessionCalls,
    /** The spec as recorded: defaults filled in. */
    readonly spec: WorkloadSpec,
  ) {
    const every = Math.max(100, (spec.leaseSeconds * 1000) / 3);
    this.timer = setInterval(() => void this.beat(), every);
    // The client's connections decide whether the process stays up; the timer alone must not.
    this.timer.unref();
  }

  get id(): string {
    return this.spec.id;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /** Runs `cmd` (argv) in the session; see `Leasehold.exec`. Each exec renews the lease while it runs. */
  exec(cmd: readonly string[], options: ExecOptions = {}): ExecHandle {
    if (this.closing) throw new Error(`session ${this.id} is closed`);
    return this.calls.exec(this.id, cmd, options);
  }

  /** Writes a file in the session; see `Leasehold.writeFile`. */
  async writeFile(path: string, content: Uint8Array | string | AsyncIterable<Uint8Array>, options: WriteFileOptions = {}): Promise<number> {
    if (this.closing) throw new Error(`session ${this.id} is closed`);
    return await this.calls.writeFile(this.id, path, content, options);
  }

  /** Reads a file out of the session; see `Leasehold.readFile`. */
  async readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    if (this.closing) throw new Error(`session ${this.id} is closed`);
    return await this.calls.readFile(this.id, path, options);
  }

  /** Lists a directory in the session; see `Leasehold.listDir`. */
  async listDir(path: string, options: ReadFileOptions = {}): Promise<DirEntry[]> {
    if (this.closing) throw new Error(`session ${this.id} is closed`);
    return await this.calls.listDir(this.id, path, options);
  }

  /** Renews the lease now. Rejects with a `SessionEndedError` when the session is no longer running. */
  async heartbeat(): Promise<void> {
    if (this.closing) throw new Error(`session ${this.id} is closed`);
    await this.calls.heartbeat(this.id);
  }

  /**
   * Stops heartbeating, cancels the session and resolves with its end (reason `cancelled`, or how
   * it ended before). Called again, resolves with the same end.
   */
  close(options: CallOptions = {}): Promise<WorkloadEnd> {
    this.closing ??= this.end(options);
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async end(options: CallOptions): Promise<WorkloadEnd> {
    clearInterval(this.timer);
    try {
      await this.calls.cancel(this.id);
    } catch (error) {
      // Ended already (lapsed, past its deadline, cancelled elsewhere): its end is still to be told.
      if (!(error instanceof CancelRefusedError) && !(error instanceof WorkloadNotFoundError)) throw error;
    }
    return await this.calls.wait(this.id, { timeoutMs: DEFAULT_SESSION_CLOSE_TIMEOUT_MS, ...options });
  }

  private async beat(): Promise<void> {
    if (this.closing) return;
    try {
      await this.calls.heartbeat(this.id);
      this.lastHeartbeatError = null;
    } catch (error) {
      this.lastHeartbeatError = error instanceof Error ? error : new Error(String(error));
    }
  }
}
