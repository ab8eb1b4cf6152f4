import type { ExecOutput, ExecRequest, ExecResult } from '../runtime/exec.js';
import { PID_LINE, pidLineFirst } from '../runtime/exec-pid.js';
import { OutputTail } from '../runtime/output-tail.js';
import type { RuntimeEvent } from '../runtime/runtime.js';

/** A runtime's exec, into the member a run claimed. */
type Exec = (member: string, request: ExecRequest, output: ExecOutput, signal: AbortSignal) => Promise<ExecResult>;

/** A claimed run's command, running in its member through an exec this replica holds. */
export interface ClaimedRun {
  readonly tail: OutputTail;
  readonly abort: AbortController;
  /** The command's pid in its member, once its first line on stderr said it: for a graceful stop. */
  pid: number | null;
  /** Settles when the command ends, however it ends. */
  readonly ended: Promise<ExecResult>;
  result: ExecResult | null;
}

/** How long a teardown waits for a killed command's end before it removes the member anyway. */
const STOP_WAIT_MS = 5_000;
const quiet = { stdout: () => undefined, stderr: () => undefined };

/**
 * Starts a run's command in its member; resolves once it runs, rejects when it could not start.
 * It goes through a shell that says the command's pid, so that a teardown can ask it to stop
 * (SIGTERM, the grace period) as it asks a cold one, rather than only kill it with its exec.
 */
export async function startClaimedRun(exec: Exec, member: string, request: ExecRequest, logTailBytes: number): Promise<ClaimedRun> {
  const tail = new OutputTail(logTailBytes);
  const abort = new AbortController();
  const push = (chunk: Uint8Array) => tail.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  let run: ClaimedRun | null = null;
  let pid: number | null = null;
  const stderr = pidLineFirst(push, (found) => (run ? (run.pid = found) : (pid = found)));
  const wrapped: ExecRequest = { ...request, cmd: ['/bin/sh', '-c', `${PID_LINE}exec "$@"`, 'sh', ...request.cmd] };
  const execution = exec(member, wrapped, { stdout: push, stderr }, abort.signal);
  // An exec rejects only when the command could not start, and does so before anything runs.
  await Promise.race([execution.then(() => undefined), new Promise((resolve) => setImmediate(resolve))]);
  const ended = execution.catch((error: unknown) => ({ exitCode: null, reason: error instanceof Error ? error.message : String(error) }));
  const started: ClaimedRun = { tail, abort, pid, result: null, ended };
  run = started;
  void ended.then((result) => (started.result = result));
  return started;
}

/** SIGTERM to the command (through a second exec), `graceMs` for it to end, then its exec ends (SIGKILL to what is left). */
export async function stopClaimedRun(exec: Exec, member: string, run: ClaimedRun, graceMs: number): Promise<void> {
  const within = (ms: number) => Promise.race([run.ended.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
  if (run.pid !== null) {
    const term: ExecRequest = { cmd: ['/bin/sh', '-c', 'kill -TERM "$0" 2>/dev/null', String(run.pid)] };
    await exec(member, term, quiet, new AbortController().signal).catch(() => undefined);
    if (await within(graceMs)) return;
  }
  run.abort.abort(new Error('torn down'));
  await within(STOP_WAIT_MS);
}

/**
 * How a claimed run's command ended, as the workload's end. A program that could not be started
 * (not found, not executable) fails the workload, as it does a cold start; an exec that ended
 * without an exit code for any other reason is `lost`, as a workload whose end nobody saw.
 */
export function claimedRunEnd(result: ExecResult): RuntimeEvent {
  if (result.exitCode !== null) return { type: 'runtime.exited', exitCode: result.exitCode };
  const detail = result.reason ?? 'the command ended';
  // The runtimes' exec (host-exec.ts, sandbox-exec.ts) say so in these words when nothing ran.
  if (detail.startsWith('cannot start ')) return { type: 'runtime.failed', error: detail };
  return { type: 'runtime.exited', exitCode: null, detail };
}
