import { createConnection } from 'node:net';
import { accessSync, chownSync, constants, copyFileSync, existsSync, linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError } from '../../errors.js';
import type { WorkloadSpec } from '../../spec/index.js';
import { HEARTBEAT_ENV } from '../runtime.js';
import type { LaunchCommand, LaunchExit, Launcher } from '../process/process-runtime.js';
import { FirecrackerApi } from './firecracker-api.js';
import { EXIT_MARKER, planVm, rootfsName, specDriveContent } from './vm-config.js';
import { execOverVsock } from './vsock-exec.js';

export interface JailerConfig {
  readonly binary: string;
  /** The jailer makes `<chrootBase>/<firecracker binary name>/<id>/root` and leaves removing it to us. */
  readonly chrootBase: string;
  readonly uid: number;
  readonly gid: number;
}

export interface FirecrackerConfig {
  readonly binary: string;
  /** The guest kernel (an uncompressed vmlinux). */
  readonly kernel: string;
  /** Root filesystems by image: `python:3.12` boots `<rootfsDir>/python_3.12.ext4`. */
  readonly rootfsDir: string;
  /** A tap device for the VM's only network interface; null (the default) gives it none. */
  readonly tap: string | null;
  readonly jailer: JailerConfig | null;
  /** The KVM device the VMM needs; null skips the check (only a test double may run without it). */
  readonly kvmDevice: string | null;
  /** How long the VMM may take to open its API socket. */
  readonly socketTimeoutMs?: number;
  /** How long after a VM starts an exec waits for the guest's agent to listen (the guest is still booting). */
  readonly agentBootMs?: number;
}

const SOCKET_NAME = 'fc.sock';
const JAILED_SOCKET = '/run/firecracker.socket';
/** The vsock device's Unix socket, in the VM's own directory (the chroot's root when jailed). */
const VSOCK_NAME = 'vsock.sock';
const DEFAULT_AGENT_BOOT_MS = 10_000;
/** sockaddr_un.sun_path holds 108 bytes, the terminating NUL included. */
const MAX_SOCKET_PATH = 107;

/**
 * Runs each untrusted workload in its own Firecracker microVM. The VMM is a child process of the
 * process runtime (pid files, process group, output tail, teardown come from there); this launcher
 * adds what a VM needs: the spec drive, the REST calls that configure and start it, reading the
 * guest's exit code from the serial console, a Ctrl-Alt-Del before any signal, removing the
 * jailer's chroot, and exec through the guest's agent on the VM's vsock device (vsock-exec.ts).
 */
export function firecrackerLauncher(config: FirecrackerConfig): Launcher {
  const jailed = config.jailer !== null;
  const chrootOf = (id: string) => join(config.jailer!.chrootBase, basename(config.binary), id);
  const socketOf = (workdir: string) =>
    jailed ? join(chrootOf(basename(workdir)), 'root', JAILED_SOCKET) : join(workdir, SOCKET_NAME);
  const vsockOf = (workdir: string) => (jailed ? join(chrootOf(basename(workdir)), 'root', VSOCK_NAME) : join(workdir, VSOCK_NAME));
  /** When each running VM was started: until its agent had time to come up, a refused exec is retried. */
  const startedAt = new Map<string, number>();

  return {
    name: 'firecracker',
    isolated: true,
    usesImage: true,

    unavailableReason() {
      const missing: string[] = [];
      if (!isExecutable(config.binary)) missing.push(`the firecracker binary (${config.binary})`);
      if (config.jailer && !isExecutable(config.jailer.binary)) missing.push(`the jailer (${config.jailer.binary})`);
      if (!existsSync(config.kernel)) missing.push(`a guest kernel at ${config.kernel}`);
      if (config.kvmDevice && !canOpen(config.kvmDevice)) {
        missing.push(`read-write access to ${config.kvmDevice} (hardware virtualisation; in a VM, nested virtualisation)`);
      }
      return missing.length > 0 ? `the firecracker sandbox needs ${missing.join(', ')}; see README, "Firecracker"` : null;
    },

    command({ argv, env: workloadEnv, controlEnv, workdir, spec }): LaunchCommand {
      const env = { ...workloadEnv, ...controlEnv };
      const id = basename(workdir);
      const rootfs = join(config.rootfsDir, rootfsName(spec.image));
      if (!existsSync(rootfs)) {
        throw new RuntimeError('NO_ROOTFS', `no root filesystem for image "${spec.image}": put it at ${rootfs}`);
      }
      for (const socket of [socketOf(workdir), vsockOf(workdir)]) {
        if (socket.length > MAX_SOCKET_PATH) {
          throw new RuntimeError('SOCKET_PATH_TOO_LONG', `the socket path ${socket} is too long for a Unix socket; use a shorter --state-dir`);
        }
      }
      // The VM has no way to this host's files; self-heartbeats from a VM are not supported (README).
      const { [HEARTBEAT_ENV.socket]: _hostOnly, ...guestEnv } = env;
      writeFileSync(join(workdir, 'spec.img'), specDriveContent(argv, guestEnv));
      if (!config.jailer) {
        return { file: config.binary, args: ['--api-sock', socketOf(workdir), '--id', id], env: {} };
      }
      const { binary, chrootBase, uid, gid } = config.jailer;
      // A VM left by a crashed control plane would make the jailer refuse this id.
      rmSync(chrootOf(id), { recursive: true, force: true });
      return {
        file: binary,
        args: ['--id', id, '--exec-file', config.binary, '--uid', String(uid), '--gid', String(gid), '--chroot-base-dir', chrootBase, '--', '--api-sock', JAILED_SOCKET],
        env: {},
      };
    },

    async configure(workdir: string, spec: WorkloadSpec) {
      const socket = socketOf(workdir);
      await waitForSocket(socket, config.socketTimeoutMs ?? 5_000);
      const files = config.jailer
        ? jailFiles(join(chrootOf(basename(workdir)), 'root'), config, spec, workdir)
        : { kernel: config.kernel, rootfs: join(config.rootfsDir, rootfsName(spec.image)), specDrive: join(workdir, 'spec.img'), vsockSocket: vsockOf(workdir) };
      const plan = planVm(spec, files, config.tap);
      const api = new FirecrackerApi(socket);
      await api.put('/machine-config', plan.machine);
      await api.put('/boot-source', plan.boot);
      for (const drive of plan.drives) await api.put(`/drives/${drive.drive_id}`, drive);
      if (plan.network) await api.put(`/network-interfaces/${plan.network.iface_id}`, plan.network);
      await api.put('/vsock', plan.vsock);
      await api.put('/actions', { action_type: 'InstanceStart' });
      startedAt.set(workdir, Date.now());
    },

    interpretExit(code, signal, output, stopped): LaunchExit {
      const marker = EXIT_MARKER.exec(output.slice(-4096));
      if (marker) return { exitCode: Number(marker[1]) };
      if (signal) return { exitCode: null, signal };
      if (stopped) return { exitCode: null, detail: 'stopped by teardown' };
      return { error: `the microVM stopped without reporting an exit code (firecracker exited with ${code})` };
    },

    async requestStop(workdir) {
      // The guest's init turns Ctrl-Alt-Del into a clean shutdown; the VMM exits when the guest does.
      await new FirecrackerApi(socketOf(workdir)).put('/actions', { action_type: 'SendCtrlAltDel' });
    },

    cleanup(workdir) {
      startedAt.delete(workdir);
      if (config.jailer) rmSync(chrootOf(basename(workdir)), { recursive: true, force: true });
    },

    // Through the guest's agent over vsock: nothing of an exec ever runs on this host.
    exec(target, request, output, ending) {
      const retryUntil = (startedAt.get(target.workdir) ?? 0) + (config.agentBootMs ?? DEFAULT_AGENT_BOOT_MS);
      return execOverVsock({ socketPath: vsockOf(target.workdir), retryUntil }, request, output, ending);
    },
  };
}

/** Inside the jail the VMM sees only its chroot: the files go there, owned by the jailed user. */
function jailFiles(root: string, config: FirecrackerConfig, spec: WorkloadSpec, workdir: string) {
  const place = (from: string, name: string) => {
    const to = join(root, name);
    try {
      linkSync(from, to); // cheap, and the rootfs may be large
    } catch {
      copyFileSync(from, to); // another filesystem
    }
    try {
      chownSync(to, config.jailer!.uid, config.jailer!.gid);
    } catch {
      // not root: the files are readable as they are, or the VMM will say it cannot open them
    }
    return `/${name}`;
  };
  mkdirSync(root, { recursive: true });
  return {
    kernel: place(config.kernel, 'vmlinux'),
    rootfs: place(join(config.rootfsDir, rootfsName(spec.image)), 'rootfs.ext4'),
    specDrive: place(join(workdir, 'spec.img'), 'spec.img'),
    vsockSocket: `/${VSOCK_NAME}`,
  };
}

/**
 * Until the VMM accepts a connection on its API socket: the socket file appears when it is bound,
 * a moment before it listens, and a busy host stretches that moment (ECONNREFUSED in between).
 */
async function waitForSocket(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(path) && (await accepts(path)))) {
    if (Date.now() > deadline) {
      throw new RuntimeError('FIRECRACKER_NO_SOCKET', `Firecracker did not open its API socket ${path} within ${timeoutMs} ms`, { transient: true });
    }
    await sleep(10);
  }
}

function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function isExecutable(file: string): boolean {
  const candidates = isAbsolute(file) ? [file] : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, file));
  return candidates.some((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function canOpen(device: string): boolean {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
