import { execFileSync } from 'node:child_process';
import { basename } from 'node:path';
import { RuntimeError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { RESERVED_ENV_PREFIX } from '../../spec/schema.js';
import { HEARTBEAT_ENV } from '../runtime.js';
import { openCgroups, type Cgroups } from './cgroups.js';
import type { Launcher, LaunchRequest } from './process-runtime.js';
import { DEFAULT_SANDBOX_LIMITS, workloadLimits, type SandboxLimits, type WorkloadLimits } from './sandbox-limits.js';
import { ExecDirs, SandboxExecChannel } from './sandbox-exec.js';
import { EXEC_SERVER_SCRIPT, SANDBOX_EXEC_DIR } from './sandbox-exec-server.js';
import { seccompProgram } from './seccomp.js';

export { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from './sandbox-limits.js';

/** Where a sandbox finds the heartbeat socket (see HEARTBEAT_ENV). */
export const SANDBOX_HEARTBEAT_SOCKET = '/run/leasehold/heartbeat.sock';

/** CPU seconds per process when no cgroup bounds a sandbox's CPU rate (the rlimit fallback). */
const FALLBACK_CPU_SECONDS = 600;
/** RLIMIT_AS counts address space, not memory: runtimes such as Node reserve far more than they use. */
const FALLBACK_MIN_ADDRESS_SPACE = 1024 * 1024 * 1024;

/** bwrap reads its seccomp program and the sandbox's environment from these descriptors. */
const SECCOMP_FD = 3;
const ARGS_FD = 4;

/**
 * Runs between the control plane and bwrap, in bash (Debian's essential shell; dash cannot close a
 * descriptor above 9). First it closes every descriptor above bwrap's own (0-2, SECCOMP_FD and
 * ARGS_FD): Node marks only the descriptors it opened close-on-exec, so whatever the control plane
 * inherited (an open directory is the host's whole file system) would otherwise reach the sandbox,
 * and bwrap closes nothing. Without /proc it cannot know what is open, so it refuses to go on.
 * Then it joins the cgroups named before `--` (Node cannot place a child in a cgroup before it
 * executes, and joining after would miss whatever it forked first) and runs the rest.
 */
const SANDBOX_WRAPPER = [
  '[ -d /proc/self/fd ] || exit 125',
  `for fd in /proc/self/fd/*; do fd=\${fd##*/}; if [ "$fd" -gt ${ARGS_FD} ]; then exec {fd}>&-; fi; done`,
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"',
].join('\n');
const WRAPPER_SHELL = '/bin/bash';
const HOST_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export interface BubblewrapOptions {
  /** The operator's bounds; a spec's `resources` choose within them. */
  readonly limits?: SandboxLimits;
  /** Names this control plane's cgroups (see cgroupScope); two control planes on a host use two. */
  readonly cgroupScope?: string;
  /** Where cgroup file systems are mounted; tests point it elsewhere to see the fallback. */
  readonly cgroupRoot?: string;
  readonly bwrap?: string;
  readonly log?: Logger;
}

/**
 * Runs each untrusted workload inside bubblewrap: new user, pid, network, ipc, uts and cgroup
 * namespaces (so no network at all, not even loopback), a read-only /usr, a private /tmp of bounded
 * size as the only writable place, no capabilities, no controlling terminal, killed with its parent,
 * a read-only root, a seccomp filter (seccomp.ts), and a cgroup bounding memory, processes and CPU
 * of the whole sandbox (cgroups.ts), or rlimits per process where this host has no usable cgroup.
 *
 * Only the control plane chooses what is mounted, where and with which flags: the heartbeat socket
 * comes from the launch request's trusted part, never from an environment a spec could fill.
 * The environment reaches bwrap through a descriptor (`--args`), so that no value shows on a
 * command line, and so that no variable of the spec (LD_PRELOAD, say) acts on host-side programs.
 */
export function bubblewrapLauncher(options: BubblewrapOptions = {}): Launcher {
  const limits = options.limits ?? DEFAULT_SANDBOX_LIMITS;
  const bwrap = options.bwrap ?? 'bwrap';
  const log = options.log ?? silentLogger;
  const root = process.getuid?.() === 0;
  let checked: string | null | undefined;
  /** Each live sandbox's exec channel, by workdir. */
  const channels = new Map<string, SandboxExecChannel>();
  let execDirs: ExecDirs | undefined;
  let cgroups: Cgroups | null | undefined;
  const cgroupsOnce = (): Cgroups | null => {
    if (cgroups !== undefined) return cgroups;
    const opened = openCgroups(options.cgroupScope ?? 'default', options.cgroupRoot);
    if ('unavailable' in opened) {
      cgroups = null;
      log.warn(
        { reason: opened.unavailable },
        `no usable cgroup (v2 delegated, or v1 as root): untrusted workloads get per-process rlimits only — up to ${limits.pids} processes, ` +
          `their memory (address space, at least 1 GiB) and ${FALLBACK_CPU_SECONDS} CPU seconds each, ` +
          'so the processes of one sandbox together can use more memory than its limit, and CPU without bound of rate',
      );
    } else {
      cgroups = opened;
      log.info({ cgroups: opened.description }, 'untrusted workloads: memory, processes and CPU bounded per sandbox by a cgroup');
    }
    return cgroups;
  };

  return {
    name: 'bubblewrap',
    isolated: true,
    bindsHeartbeatSocket: true,
    unavailableReason() {
      if (checked === undefined) checked = probe(bwrap, limits);
      return checked;
    },

    async start(live) {
      const groups = cgroupsOnce();
      if (!groups) return;
      // Groups of workloads that no pid file remembers: a crash left them, and perhaps processes in them.
      for (const id of groups.ids()) if (!live.has(id)) await groups.remove(id);
    },

    async prepare(workdir) {
      channels.get(workdir)?.close();
      execDirs ??= new ExecDirs();
      channels.set(workdir, await SandboxExecChannel.open(execDirs.make()));
    },

    async exec(target, request, output, ending) {
      const channel = channels.get(target.workdir);
      if (!channel) throw new RuntimeError('WORKLOAD_NOT_RUNNING', `cannot exec in workload ${target.id}: its sandbox has no exec channel`);
      return channel.exec(request, output, ending);
    },

    command(request) {
      const { workdir, spec } = request;
      // With an exec channel, the sandbox's first process starts the exec server, then becomes the
      // workload (sandbox-exec-server.ts): every exec is a process of the same sandbox.
      const channel = channels.get(workdir);
      const argv = channel ? ['/bin/bash', '-p', '-c', EXEC_SERVER_SCRIPT, 'leasehold-sandbox', ...request.argv] : request.argv;
      const sized = workloadLimits(spec, limits);
      const args = [
        '--unshare-all',
        '--die-with-parent',
        // No --new-session: the runtime already starts bwrap in a session of its own with no
        // terminal (detached spawn), and keeping bwrap's helper processes in that one process
        // group is what lets a teardown that comes early, while bwrap is still setting up,
        // kill all of them. A helper in a session of its own was seen outliving teardown.
        '--cap-drop', 'ALL',
        '--ro-bind', '/usr', '/usr',
        '--symlink', 'usr/bin', '/bin',
        '--symlink', 'usr/sbin', '/sbin',
        '--symlink', 'usr/lib', '/lib',
        '--symlink', 'usr/lib64', '/lib64',
        '--proc', '/proc',
        '--dev', '/dev',
        // bwrap's /dev is a writable tmpfs of half the host's RAM; only /dev/shm (POSIX shared
        // memory) needs to be writable, and it gets a size of its own.
        '--size', String(sized.shmBytes), '--tmpfs', '/dev/shm',
        '--remount-ro', '/dev',
        '--size', String(sized.tmpBytes), '--tmpfs', '/tmp',
      ];
      if (request.heartbeatSocket) {
        // No network, so the heartbeat goes through the one socket bound in, which serves
        // nothing but token-checked heartbeats (`curl --unix-socket $LEASEHOLD_HEARTBEAT_SOCKET`).
        args.push('--ro-bind', request.heartbeatSocket, SANDBOX_HEARTBEAT_SOCKET);
      }
      // Read-only: the sandbox opens the pipes the control plane makes there, and makes nothing.
      if (channel) args.push('--ro-bind', channel.dir, SANDBOX_EXEC_DIR);
      args.push(
        // bwrap's own root is a writable tmpfs; once the mount points exist, make it read-only.
        '--remount-ro', '/',
        '--hostname', 'sandbox',
        '--chdir', '/tmp',
        '--seccomp', String(SECCOMP_FD),
        '--args', String(ARGS_FD),
      );
      const environment = argsFile(['--clearenv', ...Object.entries(sandboxEnv(request)).flatMap(([name, value]) => ['--setenv', name, value])]);
      const groups = cgroupsOnce();
      const inside = groups ? [...argv] : ['prlimit', ...fallbackRlimits(sized), '--', ...argv];
      const fds = [seccompProgram(), environment];
      const procs = groups ? groups.create(basename(workdir), sized) : [];
      // As root, join the cgroups first and drop to the sandbox user after; a non-root control plane
      // owns its delegated groups and joins them as itself. Without cgroups, nothing to join: the
      // wrapper runs as the sandbox user from the start.
      const dropPrivileges = root && groups ? ['setpriv', `--reuid=${limits.uid}`, `--regid=${limits.gid}`, '--clear-groups', '--'] : [];
      return {
        file: WRAPPER_SHELL,
        args: ['-c', SANDBOX_WRAPPER, 'leasehold-sandbox', ...procs, '--', ...dropPrivileges, bwrap, ...args, '--', ...inside],
        env: { PATH: HOST_PATH },
        fds,
        ...(root && !groups ? { uid: limits.uid, gid: limits.gid } : {}),
      };
    },

    async cleanup(workdir) {
      channels.get(workdir)?.close();
      channels.delete(workdir);
      await cgroups?.remove(basename(workdir));
    },

    async close() {
      for (const channel of channels.values()) channel.close();
      channels.clear();
      execDirs?.remove();
      cgroups?.removeScope();
    },
  };
}

/**
 * PATH, HOME, the spec's variables and the control plane's, and nothing of the host. A name in
 * the control plane's namespace is taken only from the trusted part of the request, even if a
 * caller that skipped the spec schema passed one in the workload's environment.
 */
function sandboxEnv(request: LaunchRequest): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp' };
  for (const [name, value] of Object.entries(request.env)) if (!name.startsWith(RESERVED_ENV_PREFIX)) env[name] = value;
  const { [HEARTBEAT_ENV.socket]: _hostPath, ...control } = request.controlEnv;
  Object.assign(env, control);
  if (request.heartbeatSocket) {
    env[HEARTBEAT_ENV.socket] = SANDBOX_HEARTBEAT_SOCKET;
    const url = control[HEARTBEAT_ENV.url];
    if (url) env[HEARTBEAT_ENV.url] = `http://localhost${new URL(url).pathname}`;
  }
  return env;
}

/**
 * bwrap's `--args` format: NUL-separated. A NUL inside a value would end it there and make the
 * rest a bwrap option of the submitter's choosing (`x\0--bind\0/\0/host`), so it is refused.
 */
function argsFile(args: readonly string[]): Buffer {
  const bad = args.find((arg) => arg.includes('\0'));
  if (bad !== undefined) throw new RuntimeError('INVALID_ENV', 'an environment variable of this workload contains a NUL character');
  return Buffer.from(args.map((arg) => `${arg}\0`).join(''));
}

function fallbackRlimits(sized: WorkloadLimits): string[] {
  return [`--nproc=${sized.pids}`, `--fsize=${sized.tmpBytes}`, `--as=${Math.max(sized.memoryBytes, FALLBACK_MIN_ADDRESS_SPACE)}`, `--cpu=${FALLBACK_CPU_SECONDS}`];
}

/** One real sandbox start: catches a missing binary and kernels that forbid user namespaces. */
function probe(bwrap: string, limits: SandboxLimits): string | null {
  try {
    execFileSync(bwrap, ['--unshare-all', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--', 'true'], {
      stdio: 'pipe',
      timeout: 10_000,
      ...(process.getuid?.() === 0 ? { uid: limits.uid, gid: limits.gid } : {}),
    });
    return null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return 'untrusted workloads run inside bubblewrap, which is not installed: apt-get install bubblewrap';
    }
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    return `bubblewrap cannot create a sandbox on this host (${stderr || String(error)}); enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)`;
  }
}
