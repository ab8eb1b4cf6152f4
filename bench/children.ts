/**
 * The benchmark's child processes (the control plane, BullMQ's workers, the ceiling loop), each
 * driven over IPC: they say `ready`, report, and exit on `stop`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CONTROL_PLANE_NODE_FLAGS } from '../src/node-flags.js';

export interface Child {
  process: ChildProcess;
  next(type: string): Promise<Record<string, unknown>>;
  /** Every message of this type, as it arrives (not queued for next()). */
  on(type: string, listener: (message: Record<string, unknown>) => void): void;
  send(message: object): void;
}

const here = (file: string) => (file.startsWith('/') ? file : fileURLToPath(new URL(file, import.meta.url)));

export function spawnChild(file: string, argv: string[], execArgv: string[] = []): Promise<Child> {
  const child = fork(here(file), argv, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];
  const listeners = new Map<string, (message: Record<string, unknown>) => void>();
  child.on('message', (message: Record<string, unknown>) => {
    const listener = listeners.get(message.type as string);
    if (listener) return listener(message);
    const waiter = waiters.findIndex((w) => w.type === message.type);
    if (waiter >= 0) waiters.splice(waiter, 1)[0]!.resolve(message);
    else queue.push(message);
  });
  const handle: Child = {
    process: child,
    send: (message) => child.send(message),
    on: (type, listener) => void listeners.set(type, listener),
    next: (type) =>
      new Promise((resolve, reject) => {
        const queued = queue.findIndex((m) => m.type === type);
        if (queued >= 0) return resolve(queue.splice(queued, 1)[0]!);
        waiters.push({ type, resolve });
        child.once('exit', (code) => reject(new Error(`${file} exited with ${code} while waiting for ${type}`)));
      }),
  };
  return handle.next('ready').then(() => handle);
}

export async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.send({ type: 'stop' });
  await exited;
}

/**
 * A control plane on the instant runtime (bench/plane.ts) with these config overrides; `plane`:
 * another build's plane.js (`--baseline`), by absolute path.
 */
export function startPlane(redisUrl: string, natsUrl: string, prefix: string, extra: Record<string, unknown> = {}, plane = './plane.js'): Promise<Child> {
  const config = {
    redisUrl,
    natsUrl,
    keyPrefix: prefix,
    maxConcurrent: { trusted: 1_000_000, untrusted: 1_000_000 },
    maxPending: 1_000_000,
    intakeBatch: 1000,
    ...extra,
  };
  // LEASEHOLD_BENCH_PROFILE=dir writes a CPU profile of each control plane there (see README).
  const profile = process.env.LEASEHOLD_BENCH_PROFILE;
  // LEASEHOLD_BENCH_NODE_FLAGS: Node flags for this build's control plane only (not a --baseline's).
  const flags = plane === './plane.js' ? (process.env.LEASEHOLD_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean) : [];
  // This build runs with the flags it ships with; a --baseline build with none (it had none).
  const shipped = plane === './plane.js' ? CONTROL_PLANE_NODE_FLAGS : [];
  return spawnChild(plane, [JSON.stringify(config)], ['--expose-gc', ...shipped, ...flags, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [])]);
}
