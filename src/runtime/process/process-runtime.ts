import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ObservedStatus, ProvisionResult } from '../../../machines/index.js';
import { RuntimeError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { RESERVED_ENV_PREFIX } from '../../spec/schema.js';
import type { WorkloadSpec } from '../../spec/index.js';
import { workloadArgv } from '../../spec/session.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../exec.js';
import { HEARTBEAT_ENV, type ProvisionContext, type RuntimeEvent, type RuntimeListener, type WorkloadRuntime, type LogWindow } from '../runtime.js';
import { ExecEnding } from './exec-ending.js';
import { checkExecRequest } from '../exec-check.js';
import { CANCELLED } from './exec-request.js';
import { execOnHost } from './host-exec.js';
import { DEFAULT_RELAY_LIMITS, HeartbeatRelay, type HeartbeatRelayLimits } from './heartbeat-relay.js';
import { OutputBudget, type OutputRate } from './output-budget.js';
import { OutputTail } from '../output-tail.js';
import { PidFiles, isSameProcessAlive, killExecGroups, killGroup } from './pid-files.js';

/**
 * Turns a workload's argv and environment into what is actually executed. The plain runtime runs
 * them as they are; a sandbox (bubblewrap) wraps them; a microVM (Firecracker) starts a VMM and
 * configures it, using the optional hooks. `command` may throw a RuntimeError: nothing has
 * started yet.
 */
export interface Launcher {
  readonly name: string;
  readonly isolated: boolean;
  /** Whether the spec's `image` means anything here (a VM boots the image's root filesystem). */
  readonly usesImage?: boolean;
  /** Whether it binds the heartbeat socket into the workload: then each workload gets one of its own (heartbeat-relay.ts). */
  readonly bindsHeartbeatSocket?: boolean;
  unavailableReason(): string | null;
  /** When the runtime starts; `live` are the workloads it still knows (pid files), the rest is stale. */
  start?(live: ReadonlySet<string>): Promise<void>;
  /** Before `command`: what the workload needs on the host first (a sandbox's exec channel). A throw fails the provision. */
  prepare?(workdir: string): Promise<void>;
  command(request: LaunchRequest): LaunchCommand;
  /** After the process started: make it run the workload. A throw kills it and fails the provision. */
  configure?(workdir: string, spec: WorkloadSpec): Promise<void>;
  /** What the process's end means for the workload; by default, its own exit code. */
  interpretExit?(code: number | null, signal: NodeJS.Signals | null, output: string, stopped: boolean): LaunchExit;
  /** Asks for a graceful stop (a VM's Ctrl-Alt-Del) before the runtime signals the process group. */
  requestStop?(workdir: string): Promise<void>;
  /** Removes what the launcher made outside the workdir (a jailer's chroot, a cgroup). */
  cleanup?(workdir: string): void | Promise<void>;
  /** When the runtime closes: releases what the launcher holds for all workloads. */
  close?(): Promise<void>;
  /**
   * Runs a command inside the running workload (exec.ts), ending it when `ending` fires. Absent:
   * this launcher cannot, and exec is refused; never run on the host in a sandbox's stead.
   */
  exec?(target: ExecTarget, request: ExecRequest, output: ExecOutput, ending: ExecEnding): Promise<ExecResult>;
}

/** The running workload an exec goes into, as the runtime launched it. */
export interface ExecTarget {
  readonly id: string;
  readonly workdir: string;
  readonly launch: LaunchCommand;
  /** Records the process group of a command started on this host, which teardown kills if anything is left in it. */
  started(processGroup: number): void;
}

/**
 * What to launch. The untrusted part (the spec's argv and env) is kept apart from what the control
 * plane decided, so that a launcher never takes a mount, a path or a flag from the former.
 */
export interface LaunchRequest {
  readonly argv: readonly string[];
  /** The workload's own variables: the spec's env (and a trusted process's few host variables). Never names in LEASEHOLD_. */
  readonly env: Readonly<Record<string, string>>;
  /** Variables the control plane gives the workload: its id, the heartbeat URL and token. */
  readonly controlEnv: Readonly<Record<string, string>>;
  /** This host's heartbeat socket, for a launcher that binds it in; set by the control plane only. */
  readonly heartbeatSocket: string | undefined;
  readonly workdir: string;
  readonly spec: WorkloadSpec;
}

export type LaunchExit =
  | { readonly exitCode: number | null; readonly signal?: NodeJS.Signals | null; readonly detail?: string }
  | { readonly error: string };

export interface LaunchCommand {
  readonly file: string;
  readonly args: string[];
  readonly env: Record<string, string>;
  /** Written to descriptors 3, 4, … of the process and closed (a seccomp program, arguments read from a file descriptor). */
  readonly fds?: readonly Buffer[];
  /** Drop to this user before exec (only when the control plane runs as root). */
  readonly uid?: number;
  readonly gid?: number;
}

export const directLauncher: Launcher = {
  name: 'process',
  isolated: false,
  unavailableReason: () => null,
  command: ({ argv, env, controlEnv }) => ({ file: argv[0]!, args: argv.slice(1), env: { ...env, ...controlEnv } }),
  // A trusted workload is a process of this host: its exec is one too, with the workload's own
  // environment, user and working directory (a relative cwd is relative to that directory).
  exec: (target, request, output, ending) =>
    execOnHost(
      {
        file: request.cmd[0]!,
        args: request.cmd.slice(1),
        env: { ...target.launch.env, ...request.env, ...request.controlEnv },
        cwd: resolve(target.workdir, request.cwd ?? '.'),
        ...(target.launch.uid !== undefined ? { uid: target.launch.uid } : {}),
        ...(target.launch.gid !== undefined ? { gid: target.launch.gid } : {}),
      },
      request.stdin,
      output,
      ending,
      (group) => target.started(group),
    ),
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
  /** What one workload's own heartbeat socket allows (a launcher that binds it in only). */
  readonly heartbeatRelay?: Partial<HeartbeatRelayLimits>;
  /** How fast the control plane reads one workload's output (output-budget.ts). */
  readonly outputRate?: OutputRate;
}

interface Child {
  readonly process: ChildProcess;
  readonly tail: OutputTail;
  readonly output: OutputBudget;
  exited: LaunchExit | null;
  readonly exitedPromise: Promise<void>;
  /** Set when provisioning failed after the spawn: its death is not news to the workload. */
  silenced: boolean;
  /** Teardown asked it to stop. */
  stopping: boolean;
  readonly launch: LaunchCommand;
  /** Execs in flight: ended when the workload exits or is torn down. */
  readonly execs: Set<ExecEnding>;
  /** Process groups of execs run on this host: what is left in them dies at teardown. */
  readonly execGroups: Set<number>;
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
  private readonly finishedLogs = new Map<string, OutputTail>();
  private readonly listeners = new Set<RuntimeListener>();
  private readonly relays = new Map<string, HeartbeatRelay>();
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
    await this.launcher.start?.(new Set(this.pidFiles.ids()));
  }

  async provision(id: string, spec: WorkloadSpec, context: ProvisionContext = {}): Promise<ProvisionResult> {
    if (this.children.has(id)) return { state: 'running' };
    const unavailable = this.unavailableReason();
    if (unavailable) throw new RuntimeError('RUNTIME_UNAVAILABLE', unavailable);
    if (!this.imageNoticeGiven && !this.launcher.usesImage) {
      this.imageNoticeGiven = true;
      this.log.info({ runtime: this.name }, 'the process runtime runs cmd on this host; the image field is not used');
    }
    const argv = workloadArgv(spec);
    const workdir = this.workdir(id);
    mkdirSync(workdir, { recursive: true });
    const env: Record<string, string> = {};
    for (const name of INHERITED_ENV) {
      const value = process.env[name];
      if (value !== undefined && !this.isolated) env[name] = value;
    }
    // The schema refuses these names; a caller that skipped it still does not get to set them.
    for (const [name, value] of Object.entries(spec.env)) if (!name.startsWith(RESERVED_ENV_PREFIX)) env[name] = value;
    const controlEnv = { ...context.env, LEASEHOLD_WORKLOAD_ID: id };
    let heartbeatSocket = context.env?.[HEARTBEAT_ENV.socket];
    let launch: LaunchCommand;
    let child: ChildProcess;
    try {
      if (heartbeatSocket && this.launcher.bindsHeartbeatSocket) heartbeatSocket = (await this.openRelay(id, heartbeatSocket)).path;
      await this.launcher.prepare?.(workdir);
      launch = this.launcher.command({ argv, env, controlEnv, heartbeatSocket, workdir, spec });
      child = spawn(launch.file, launch.args, {
        cwd: workdir,
        env: launch.env,
        ...(launch.uid !== undefined ? { uid: launch.uid } : {}),
        ...(launch.gid !== undefined ? { gid: launch.gid } : {}),
        detached: true, // its own process group: teardown signals the whole tree
        stdio: ['ignore', 'pipe', 'pipe', ...(launch.fds ?? []).map(() => 'pipe' as const)],
      });
    } catch (error) {
      await this.forgetAfterFailedStart(id, workdir);
      throw error instanceof RuntimeError ? error : spawnError(argv[0]!, error);
    }
    const tail = new OutputTail(this.logTailBytes);
    const output = new OutputBudget(this.options.outputRate);
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        tail.push(chunk);
        output.spend(stream, chunk.length);
      });
    }
    try {
      await Promise.race([once(child, 'spawn'), once(child, 'error').then(([error]) => Promise.reject(error))]);
    } catch (error) {
      await this.forgetAfterFailedStart(id, workdir);
      throw spawnError(argv[0]!, error);
    }
    (launch.fds ?? []).forEach((content, i) => {
      const stream = child.stdio[3 + i] as NodeJS.WritableStream & NodeJS.EventEmitter;
      // A child that dies before reading makes this EPIPE; its exit is what reports the failure.
      stream.on('error', () => undefined);
      stream.end(content);
    });
    const pid = child.pid!;
    this.pidFiles.write(id, pid);
    const entry: Child = {
      process: child,
      tail,
      output,
      exited: null,
      exitedPromise: once(child, 'exit').then(() => undefined),
      silenced: false,
      stopping: false,
      launch,
      execs: new Set(),
      execGroups: new Set(),
    };
    this.children.set(id, entry);
    child.on('exit', (code, signal) => {
      const exit = this.launcher.interpretExit?.(code, signal, tail.text(), entry.stopping) ?? {
        exitCode: code,
        signal,
        ...(code ? { detail: lastLine(tail.text()) } : {}),
      };
      entry.exited = exit;
      // As when a container's main process ends: a sandbox's execs die with it, a host's are killed.
      endExecs(entry, 'the workload exited');
      this.pidFiles.recordExit(id, 'exitCode' in exit ? exit.exitCode : null);
      if (entry.silenced) return;
      this.emit(id, 'error' in exit ? { type: 'runtime.failed', error: exit.error } : { type: 'runtime.exited', ...exit });
    });
    if (this.launcher.configure) {
      try {
        await this.launcher.configure(workdir, spec);
      } catch (error) {
        entry.silenced = true;
        killGroup(pid, 'SIGKILL');
        await entry.exitedPromise;
        this.children.delete(id);
        this.pidFiles.remove(id);
        await this.forget(id, workdir);
        throw error;
      }
    }
    return { state: 'running' };
  }

  async status(id: string): Promise<ObservedStatus> {
    const child = this.children.get(id);
    if (child) {
      const exit = child.exited;
      if (!exit) return { state: 'running', adoptable: true };
      if ('error' in exit) return { state: 'exited', detail: exit.error };
      if (exit.exitCode === null) return { state: 'exited', detail: exit.detail ?? `killed by ${exit.signal}` };
      return { state: 'exited', exitCode: exit.exitCode };
    }
    const recorded = this.pidFiles.read(id);
    if (!recorded) return { state: 'notFound' };
    if (recorded.exitCode !== undefined && recorded.exitCode !== null) return { state: 'exited', exitCode: recorded.exitCode };
    if (isSameProcessAlive(recorded.pid, recorded.startTime)) return { state: 'running', adoptable: false };
    return { state: 'exited', detail: 'the process ended while the control plane was away' };
  }

  async teardown(id: string): Promise<void> {
    const child = this.children.get(id);
    const workdir = this.workdir(id);
    if (child) {
      child.stopping = true;
      endExecs(child, 'the workload was torn down');
      if (!child.exited) await this.stop(workdir, child.process.pid!, child.exitedPromise);
      // The leader may be gone while descendants it left in its group live on.
      killGroup(child.process.pid!, 'SIGKILL');
      for (const group of child.execGroups) killGroup(group, 'SIGKILL');
      child.output.stop();
      this.keepLogs(id, child.tail);
      this.children.delete(id);
    } else {
      const recorded = this.pidFiles.read(id);
      if (recorded && isSameProcessAlive(recorded.pid, recorded.startTime)) {
        await this.stop(workdir, recorded.pid, waitUntilGone(recorded.pid, recorded.startTime));
      }
      // What execs of a control plane that died (kill -9) still run: the workload's, so they go with it.
      if (recorded) killExecGroups(recorded);
    }
    this.pidFiles.remove(id);
    await this.forget(id, workdir);
  }

  /**
   * Runs a command inside a running workload, through the launcher (exec.ts): on this host for a
   * trusted process, inside the same sandbox for bubblewrap. Refused before anything runs for a
   * workload this runtime does not hold, one that is not running, and a launcher that cannot exec.
   */
  async exec(id: string, request: ExecRequest, output: ExecOutput, signal: AbortSignal): Promise<ExecResult> {
    checkExecRequest(request);
    const child = this.children.get(id);
    if (!child) {
      const recorded = this.pidFiles.read(id);
      if (recorded && isSameProcessAlive(recorded.pid, recorded.startTime)) {
        throw new RuntimeError('WORKLOAD_NOT_RUNNING', `cannot exec in workload ${id}: it was started by an earlier control plane and is being stopped`);
      }
      throw new RuntimeError('WORKLOAD_NOT_FOUND', `cannot exec in workload ${id}: the ${this.name} runtime has no such workload`);
    }
    if (child.exited || child.stopping) {
      throw new RuntimeError('WORKLOAD_NOT_RUNNING', `cannot exec in workload ${id}: it has ${child.stopping ? 'been stopped' : 'exited'}`);
    }
    if (!this.launcher.exec) throw new RuntimeError('EXEC_UNSUPPORTED', `the ${this.name} runtime cannot run a command inside a running workload`);
    if (signal.aborted) return CANCELLED;
    const ending = new ExecEnding(request.timeoutMs, signal);
    child.execs.add(ending);
    forgetEmptyGroups(child.execGroups);
    const started = (group: number) => {
      child.execGroups.add(group);
      // On disk too: a control plane killed with -9 forgets the set, and the next one reads this.
      this.pidFiles.addExecGroup(id, group);
    };
    const target: ExecTarget = { id, workdir: this.workdir(id), launch: child.launch, started };
    try {
      return await this.launcher.exec(target, request, output, ending);
    } finally {
      child.execs.delete(ending);
      ending.dispose();
    }
  }

  watch(listener: RuntimeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async list(): Promise<string[]> {
    return [...new Set([...this.children.keys(), ...this.pidFiles.ids()])];
  }

  /** Bytes of a live workload's output read so far (what its output has cost the control plane). */
  outputBytesRead(id: string): number | null {
    return this.children.get(id)?.output.bytesRead ?? null;
  }

  async logs(id: string): Promise<string | null> {
    return (this.children.get(id)?.tail ?? this.finishedLogs.get(id))?.text() ?? null;
  }

  async logsFrom(id: string, from: number): Promise<LogWindow | null> {
    const child = this.children.get(id);
    // A live child's last character may still be on its way; a torn-down one has said everything.
    if (child) return child.tail.window(from, false);
    return this.finishedLogs.get(id)?.window(from, true) ?? null;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    for (const relay of this.relays.values()) await relay.close();
    this.relays.clear();
    await this.launcher.close?.();
  }

  /**
   * A graceful stop where the launcher has one (its request, then the grace period), else SIGTERM
   * and the grace period; then SIGKILL for whatever is left.
   */
  private async stop(workdir: string, pid: number, gone: Promise<void>): Promise<void> {
    const polite = this.launcher.requestStop
      ? await this.launcher.requestStop(workdir).then(
          () => true,
          () => false, // the VM cannot take the request (not booted, or not on x86): signal it instead
        )
      : false;
    if (!polite) killGroup(pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.graceMs)));
    const result = await Promise.race([gone.then(() => 'gone' as const), graceOver]);
    clearTimeout(timer);
    if (result === 'timeout') {
      killGroup(pid, 'SIGKILL');
      await gone;
    }
  }

  /** A socket of the workload's own beside the control plane's, relaying to it; its name is the control plane's choice. */
  private async openRelay(id: string, upstream: string): Promise<HeartbeatRelay> {
    const open = this.relays.get(id);
    if (open) return open;
    const relay = await HeartbeatRelay.open(id, join(dirname(upstream), `w-${id}.sock`), upstream, { ...DEFAULT_RELAY_LIMITS, ...this.options.heartbeatRelay });
    this.relays.set(id, relay);
    return relay;
  }

  /** Removes what the launcher made for a workload, its heartbeat socket, then its working directory. */
  private async forget(id: string, workdir: string): Promise<void> {
    const relay = this.relays.get(id);
    this.relays.delete(id);
    await relay?.close();
    await this.launcher.cleanup?.(workdir);
    rmSync(workdir, { recursive: true, force: true });
  }

  /**
   * Out of descriptors, even removing a directory can fail; what is left is harmless (the next
   * provision reuses the workdir, the next start collects a stale cgroup) and must not hide why
   * the start failed.
   */
  private async forgetAfterFailedStart(id: string, workdir: string): Promise<void> {
    try {
      await this.forget(id, workdir);
    } catch (error) {
      this.log.warn({ workdir, err: error }, 'could not clean up after a failed start');
    }
  }

  private keepLogs(id: string, tail: OutputTail): void {
    tail.compact();
    this.finishedLogs.set(id, tail);
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

/**
 * Out of descriptors or processes (EMFILE, ENFILE, EAGAIN, ENOMEM) is the host being busy, not the
 * workload being wrong: transient, so provisioning retries it with backoff.
 */
const TRANSIENT_SPAWN_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM']);

function spawnError(program: string, error: unknown): RuntimeError {
  const code = (error as NodeJS.ErrnoException).code;
  const transient = code !== undefined && TRANSIENT_SPAWN_CODES.has(code);
  return new RuntimeError('SPAWN_FAILED', `cannot start ${program}: ${code === 'ENOENT' ? 'command not found' : String(error)}`, {
    cause: error,
    transient,
  });
}

function endExecs(child: Child, reason: string): void {
  for (const ending of child.execs) ending.end(reason);
}

/**
 * Groups with no process left, forgotten so that teardown does not signal a group number the
 * system has since given to someone else.
 */
function forgetEmptyGroups(groups: Set<number>): void {
  for (const group of groups) {
    try {
      process.kill(-group, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') groups.delete(group);
    }
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
