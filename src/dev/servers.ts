import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A server this process started and owns: `leasehold dev`, the tests and the benchmark use these. */
export interface OwnedServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its data directory. */
  stop(): Promise<void>;
  /** Stops it but keeps its data directory, so `start` can bring the same server back. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface RedisServerOptions {
  port?: number;
  /** The data directory; a temporary one by default, removed by `stop()`. */
  dir?: string;
  /**
   * `none` (the default, for tests): a restart loses everything. `aof`: an append-only file in
   * `dir`, fsynced every second, so a restart on the same directory keeps what was acknowledged
   * (at most the last second is at risk on a machine crash; none on a process crash).
   */
  persistence?: 'none' | 'aof';
  /** `requirepass`; the URL then carries it. */
  password?: string;
}

/** `redis-server` on a free loopback port, in a temporary directory unless `dir` is given. */
export async function startRedis(options: RedisServerOptions = {}): Promise<OwnedServer> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'leasehold-redis-'));
  const persistence =
    options.persistence === 'aof' ? ['--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--save', '', '--appendonly', 'no'];
  // `-` reads more configuration from stdin: the password goes there, never on a command line.
  const child = spawn(
    'redis-server',
    ['-', '--port', String(port), '--bind', '127.0.0.1', ...persistence, '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stdin!.on('error', () => undefined); // a server that failed at once closed its stdin
  child.stdin!.end(options.password === undefined ? '' : `requirepass ${JSON.stringify(options.password)}\n`);
  const userinfo = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  const server = await own(child, `redis://${userinfo}127.0.0.1:${port}`, port, dir, 'redis-server', 'apt-get install redis-server');
  // A directory the caller chose holds data meant to outlive this server: `stop()` keeps it.
  return options.dir === undefined ? server : { ...server, stop: () => server.kill() };
}

/**
 * `nats-server` with JetStream on a free loopback port. With `config`, it also reads that file
 * (accounts, users, permissions, TLS); the address, port and store directory given here win over
 * the file's, and `env` feeds the `$VARIABLES` the file refers to (passwords, for instance).
 */
export async function startNats(options: { port?: number; dir?: string; config?: string; env?: NodeJS.ProcessEnv } = {}): Promise<OwnedServer> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'leasehold-nats-'));
  const child = spawn('nats-server', [...(options.config ? ['-c', options.config] : []), '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  return own(child, `nats://127.0.0.1:${port}`, port, dir, 'nats-server', 'apt-get install nats-server');
}

async function own(child: ChildProcess, url: string, port: number, dir: string, name: string, install: string): Promise<OwnedServer> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(error.code === 'ENOENT' ? `${name} is not installed: ${install}` : `${name} failed: ${error.message}`)),
    ),
  );
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    await Promise.race([spawnError, new Promise((resolve) => setTimeout(resolve, 25))]);
    if (child.exitCode !== null) throw new Error(`${name} exited at start: ${output.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not accept connections on port ${port} within 10 s: ${output.trim()}`);
    }
  }
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url,
    port,
    process: child,
    kill,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
