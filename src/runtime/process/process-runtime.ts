import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ObservedStatus, ProvisionResult } from '../../../machines/index.js';
import { RuntimeError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import type { WorkloadSpec } from '../../spec/index.js';
import type { ProvisionContext, RuntimeEvent, RuntimeListener, WorkloadRuntime } from '../runtime.js';
import { OutputTail } from './output-tail.js';
import { PidFiles, isSameProcessAlive, killGroup } from './pid-files.js';

/**
 * Turns a workload's argv and environment into what is actually executed. The plain runtime runs
 * them as they are; a sandbox (bubblewrap) wraps them. Returning null means "cannot run here".
 */
export interface Launcher {
  readonly name: string;
  readonly isolated: boolean;
  unavailableReason(): string | null;
  command(argv: readonly string[], env: Record<string, string>, workdir: string): LaunchCommand;
}

export interface LaunchCommand {
  readonly file: string;
  readonly args: string[];
  readonly env: Record<string, string>;
  /** Drop to this user before exec (only when the control plane runs as root). */
  readonly uid?: number;
  readonly gid?: number;
}

export const directLauncher: Launcher = {
  name: 'process',
  isolated: false,
  unavailableReason: () => null,
  command: (argv, env) => ({ file: argv[0]!, args: argv.slice(1), env }),
};

export interface ProcessRuntimeOptions {
  /** Where pid files and per-workload working directories live; must survive a control-plane crash. */
  readonly stateDir: string;
  readonly launcher?: Launcher;
  /** SIGTERM, then this long, then SIGKILL. */
  readonly graceMs?: number;
  readonly logTailBytes?: number;
  /** How many finished workloads keep their output for `leasehold logs`. */
  readonly keepFinishedLogs?: number;
  readonly log?: Logger;
}

interface Child {
  readonly process: ChildProcess;
  readonly tail: OutputTail;
  exited: { code: number | null; signal: NodeJS.Signals | null } | null;
  readonly exitedPromise: Promise<void>;
}

/** The variables a trusted local process gets from the host; nothing else of the control plane's leaks. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'];

/**
 * Local child processes: the embedded default runtime. Each workload runs in its own process
 * group, so teardown reaches the whole tree; pid files let a restarted control plane find (and
 * stop) what a crashed one left behind. A process that is not our child cannot be waited for, so
 * after a restart a still-running workload is reported as not adoptable and is torn down.
 */
export class ProcessRuntime implements WorkloadRuntime {
  readonly name: string;
  readonly isolated: boolean;
  private readonly launcher: Launcher;
  private readonly pidFiles: PidFiles;
  private readonly children = new Map<string, Child>();
  private readonly finishedLogs = new Map<string, string>();
  private readonly listeners = new Set<RuntimeListener>();
  private readonly graceMs: number;
  private readonly logTailBytes: number;
  private readonly keepFinishedLogs: number;
  private readonly log: Logger;
  private imageNoticeGiven = false;

  constructor(private readonly options: ProcessRuntimeOptions) {
    this.launcher = options.launcher ?? directLauncher;
    this.name = this.launcher.name;
    this.isolated = this.launcher.isolated;
    this.pidFiles = new PidFiles(join(options.stateDir, this.name, 'pids'));
    this.graceMs = options.graceMs ?? 5_000;
    this.logTailBytes = options.logTailBytes ?? 64 * 1024;
    this.keepFinishedLogs = options.keepFinishedLogs ?? 1_000;
    this.log = options.log ?? silentLogger;
  }

  unavailableReason(): string | null {
    return this.launcher.unavailableReason();
  }

  async start(): Promise<void> {
    this.pidFiles.ensureDir();
  }

  async provision(id: string, spec: WorkloadSpec, context: ProvisionContext = {}): Promise<ProvisionResult> {
    if (this.children.has(id)) return { state: 'running' };
    const unavailable = this.unavailableReason();
    if (unavailable) throw new RuntimeError('RUNTIME_UNAVAILABLE', unavailable);
    if (!this.imageNoticeGiven) {
      this.imageNoticeGiven = true;
      this.log.info({ runtime: this.name }, 'the process runtime runs cmd on this host; the image field is not used');
    }
    const argv = typeof spec.cmd === 'string' ? ['/bin/sh', '-c', spec.cmd] : [...spec.cmd];
    const workdir = this.workdir(id);
    mkdirSync(workdir, { recursive: true });
    const env: Record<string, string> = {};
    for (const name of INHERITED_ENV) {
      const value = process.env[name];
      if (value !== undefined && !this.isolated) env[name] = value;
    }
    Object.assign(env, spec.env, context.env, { LEASEHOLD_WORKLOAD_ID: id });
    const launch = this.launcher.command(argv, env, workdir);

    const child = spawn(launch.file, launch.args, {
      cwd: workdir,
      env: launch.env,
      ...(launch.uid !== undefined ? { uid: launch.uid } : {}),
      ...(launch.gid !== undefined ? { gid: launch.gid } : {}),
      detached: true, // its own process group: teardown signals the whole tree
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail = new OutputTail(this.logTailBytes);
    child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));
    try {
      await Promise.race([once(child, 'spawn'), once(child, 'error').then(([error]) => Promise.reject(error))]);
    } catch (error) {
      rmSync(workdir, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      throw new RuntimeError('SPAWN_FAILED', `cannot start ${argv[0]}: ${code === 'ENOENT' ? 'command not found' : String(error)}`, {
        cause: error,
      });
    }
    const pid = child.pid!;
    this.pidFiles.write(id, pid);
    const entry: Child = {
      process: child,
      tail,
      exited: null,
      exitedPromise: once(child, 'exit').then(() => undefined),
    };
    this.children.set(id, entry);
    child.on('exit', (code, signal) => {
      entry.exited = { code, signal };
      this.pidFiles.recordExit(id, code);
      this.emit(id, { type: 'runtime.exited', exitCode: code, signal, ...(code ? { detail: lastLine(tail.text()) } : {}) });
    });
    return { state: 'running' };
  }

  async status(id: string): Promise<ObservedStatus> {
    const child = this.children.get(id);
    if (child) {
      if (!child.exited) return { state: 'running', adoptable: true };
      const { code, signal } = child.exited;
      return code === null ? { state: 'exited', detail: `killed by ${signal}` } : { state: 'exited', exitCode: code };
    }
    const recorded = this.pidFiles.read(id);
    if (!recorded) return { state: 'notFound' };
    if (recorded.exitCode !== undefined && recorded.exitCode !== null) return { state: 'exited', exitCode: recorded.exitCode };
    if (isSameProcessAlive(recorded.pid, recorded.startTime)) return { state: 'running', adoptable: false };
    return { state: 'exited', detail: 'the process ended while the control plane was away' };
  }

  async teardown(id: string): Promise<void> {
    const child = this.children.get(id);
    if (child) {
      if (!child.exited) await this.stopGroup(child.process.pid!, child.exitedPromise);
      // The leader may be gone while descendants it left in its group live on.
      killGroup(child.process.pid!, 'SIGKILL');
      this.keepLogs(id, child.tail.text());
      this.children.delete(id);
    } else {
      const recorded = this.pidFiles.read(id);
      if (recorded && isSameProcessAlive(recorded.pid, recorded.startTime)) {
        await this.stopGroup(recorded.pid, waitUntilGone(recorded.pid, recorded.startTime));
      }
    }
    this.pidFiles.remove(id);
    rmSync(this.workdir(id), { recursive: true, force: true });
  }

  watch(listener: RuntimeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async list(): Promise<string[]> {
    return [...new Set([...this.children.keys(), ...this.pidFiles.ids()])];
  }

  async logs(id: string): Promise<string | null> {
    return this.children.get(id)?.tail.text() ?? this.finishedLogs.get(id) ?? null;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private async stopGroup(pid: number, gone: Promise<void>): Promise<void> {
    killGroup(pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.graceMs)));
    const result = await Promise.race([gone.then(() => 'gone' as const), graceOver]);
    clearTimeout(timer);
    if (result === 'timeout') {
      killGroup(pid, 'SIGKILL');
      await gone;
    }
  }

  private keepLogs(id: string, text: string): void {
    this.finishedLogs.set(id, text);
    if (this.finishedLogs.size > this.keepFinishedLogs) {
      this.finishedLogs.delete(this.finishedLogs.keys().next().value!);
    }
  }

  private workdir(id: string): string {
    return join(this.options.stateDir, this.name, 'work', id);
  }

  private emit(id: string, event: RuntimeEvent): void {
    for (const listener of this.listeners) listener(id, event);
  }
}

function lastLine(text: string): string | undefined {
  const line = text.trimEnd().split('\n').at(-1);
  return line ? line.slice(0, 500) : undefined;
}

/** Polls a process that is not our child until it is gone; used only after a restart. */
async function waitUntilGone(pid: number, startTime: string): Promise<void> {
  while (isSameProcessAlive(pid, startTime)) await new Promise((resolve) => setTimeout(resolve, 50));
}
