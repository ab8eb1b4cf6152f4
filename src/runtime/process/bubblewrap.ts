import { execFileSync } from 'node:child_process';
import { HEARTBEAT_ENV } from '../runtime.js';
import type { Launcher } from './process-runtime.js';

/** Where a sandbox finds the heartbeat socket (see HEARTBEAT_ENV). */
export const SANDBOX_HEARTBEAT_SOCKET = '/run/leasehold/heartbeat.sock';

export interface SandboxLimits {
  /** Processes the sandbox user may have at once (RLIMIT_NPROC): a fork bomb stops here. */
  readonly maxProcesses: number;
  /** Address space per process in bytes (RLIMIT_AS). */
  readonly memoryBytes: number;
  /** CPU seconds per process (RLIMIT_CPU). */
  readonly cpuSeconds: number;
  /** The unprivileged user bubblewrap runs as when the control plane is root. */
  readonly uid: number;
  readonly gid: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  maxProcesses: 256,
  memoryBytes: 1024 * 1024 * 1024,
  cpuSeconds: 600,
  uid: 65534,
  gid: 65534,
};

/**
 * Runs each untrusted workload inside bubblewrap: new user, pid, network, ipc, uts and cgroup
 * namespaces (so no network at all, not even loopback), a read-only /usr, a private /tmp as the
 * only writable place, no capabilities, no controlling terminal, killed with its
 * parent, a read-only root, an environment holding only what the spec gives, and rlimits
 * applied by prlimit.
 */
export function bubblewrapLauncher(limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS, bwrap = 'bwrap'): Launcher {
  let checked: string | null | undefined;
  return {
    name: 'bubblewrap',
    isolated: true,
    unavailableReason() {
      if (checked === undefined) checked = probe(bwrap, limits);
      return checked;
    },
    command(argv, env) {
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
        '--tmpfs', '/tmp',
      ];
      const sandboxEnv: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', ...env };
      const hostSocket = env[HEARTBEAT_ENV.socket];
      if (hostSocket) {
        // No network, so the heartbeat goes through the one socket bound in, which serves
        // nothing but token-checked heartbeats (`curl --unix-socket $LEASEHOLD_HEARTBEAT_SOCKET`).
        args.push('--ro-bind', hostSocket, SANDBOX_HEARTBEAT_SOCKET);
        sandboxEnv[HEARTBEAT_ENV.socket] = SANDBOX_HEARTBEAT_SOCKET;
        const url = env[HEARTBEAT_ENV.url];
        if (url) sandboxEnv[HEARTBEAT_ENV.url] = `http://localhost${new URL(url).pathname}`;
      }
      args.push(
        // bwrap's own root is a writable tmpfs; once the mount points exist, make it read-only.
        '--remount-ro', '/',
        '--hostname', 'sandbox',
        '--chdir', '/tmp',
        '--clearenv',
      );
      for (const [name, value] of Object.entries(sandboxEnv)) args.push('--setenv', name, value);
      args.push(
        '--',
        'prlimit',
        `--nproc=${limits.maxProcesses}`,
        `--as=${limits.memoryBytes}`,
        `--cpu=${limits.cpuSeconds}`,
        '--',
        ...argv,
      );
      return { file: bwrap, args, env: {}, ...(process.getuid?.() === 0 ? { uid: limits.uid, gid: limits.gid } : {}) };
    },
  };
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
