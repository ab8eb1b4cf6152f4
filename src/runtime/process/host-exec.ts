import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { RuntimeError } from '../../errors.js';
import type { ExecOutput, ExecResult } from '../exec.js';
import type { ExecEnding } from './exec-ending.js';
import { exitCodeOf } from './exec-request.js';
import { pumpStdin } from './exec-stdin.js';
import { killGroup } from './pid-files.js';

export interface HostCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * After the command exits, how long its output may still take to arrive. A background process it
 * started and that keeps the pipes open does not hold the exec open beyond this.
 */
const DRAIN_AFTER_EXIT_MS = 200;
const TRANSIENT_SPAWN_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM']);

/**
 * Runs one exec as a child process of this host, in a process group of its own, so that a timeout
 * or a cancel kills everything it started. `started` learns its process group before anything is
 * read, so that the runtime can kill what is left of it when the workload is torn down.
 */
export async function execOnHost(
  command: HostCommand,
  stdin: AsyncIterable<Uint8Array> | undefined,
  output: ExecOutput,
  ending: ExecEnding,
  started: (pid: number) => void,
): Promise<ExecResult> {
  if (!isDirectory(command.cwd)) return { exitCode: null, reason: `cannot start ${command.file}: no such working directory ${command.cwd}` };
  let child: ChildProcess;
  try {
    child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      ...(command.uid !== undefined ? { uid: command.uid } : {}),
      ...(command.gid !== undefined ? { gid: command.gid } : {}),
      detached: true,
      stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    return notStarted(command.file, error);
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  try {
    await Promise.race([once(child, 'spawn'), once(child, 'error').then(([error]) => Promise.reject(error))]);
  } catch (error) {
    return notStarted(command.file, error);
  }
  const pid = child.pid!;
  started(pid);
  child.stdout!.on('data', (chunk: Buffer) => output.stdout(chunk));
  child.stderr!.on('data', (chunk: Buffer) => output.stderr(chunk));
  const drained = Promise.all([once(child.stdout!, 'close'), once(child.stderr!, 'close')]);
  if (stdin && child.stdin) void pumpStdin(stdin, child.stdin, ending.signal);

  const first = await Promise.race([exited.then((exit) => ({ exit })), ending.ended().then(() => null)]);
  if (first === null) {
    killGroup(pid, 'SIGKILL');
    await exited;
    destroyPipes(child);
    return { exitCode: null, reason: ending.reason ?? 'cancelled' };
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, DRAIN_AFTER_EXIT_MS))), ending.ended()]);
  clearTimeout(timer);
  destroyPipes(child);
  return { exitCode: exitCodeOf(first.exit.code, first.exit.signal) };
}


function destroyPipes(child: ChildProcess): void {
  child.stdin?.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/** A command that does not exist or cannot be run is the exec's result; a busy host is the runtime's error. */
function notStarted(file: string, error: unknown): ExecResult {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && TRANSIENT_SPAWN_CODES.has(code)) {
    throw new RuntimeError('SPAWN_FAILED', `cannot start ${file}: ${String(error)}`, { cause: error, transient: true });
  }
  const why = code === 'ENOENT' ? 'command not found' : code === 'EACCES' ? 'permission denied' : String(error);
  return { exitCode: null, reason: `cannot start ${file}: ${why}` };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
