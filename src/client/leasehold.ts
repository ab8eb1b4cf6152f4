import type { NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { LIFECYCLE_STATES, type LifecycleState } from '../../machines/index.js';
import { LeaseholdError } from '../errors.js';
import type { NatsAuth } from '../events/nats-auth.js';
import { dialNats } from '../events/nats-connect.js';
import { subjectsFor, type Subjects, type WorkloadStatus } from '../events/transition.js';
import { installationKeyPrefix, parseInstallation } from '../installation.js';
import { createKeys, type Keys } from '../keys.js';
import { DEFAULT_SHARD_COUNT } from '../ownership/shards.js';
import { redactUrl, redactUrlsIn } from '../redact.js';
import { checkRedisUrl } from '../server-urls.js';
import { randomBytes } from 'node:crypto';
import { DEFAULT_MAX_PAYLOAD_BYTES, DNS1123_LABEL, MAX_ID_LENGTH, type WorkloadSubmission } from '../spec/index.js';
import { ControlRequests } from './control-requests.js';
import { execInWorkload, type ExecHandle, type ExecOptions } from './exec.js';
import { InvalidIdError } from './errors.js';
import { listDirIn, readFileIn, writeFileIn, type DirEntry, type ReadFileOptions, type WriteFileOptions } from './files.js';
import type { CallOptions } from './deadline.js';
import { SessionHandle } from './session.js';
import { submitWorkload, type Submitted } from './submit.js';
import { waitUntilRunning } from './wait-running.js';
import { waitForEnd, type WorkloadEnd } from './wait.js';
import { TransitionWatch, type WatchFilter, type WatchOptions } from './watch.js';

export interface ConnectOptions {
  /** The installation's Redis: a URL (`redis://…`, `rediss://…`), or a connection the caller owns and closes. */
  readonly redis: string | Redis;
  /** The installation's NATS: a URL (several separated by commas), or a connection the caller owns and closes. */
  readonly nats: string | NatsConnection;
  /** Credentials and TLS for a NATS URL (as `leasehold start` takes them). */
  readonly natsAuth?: NatsAuth;
  /** The installation's name (`--installation`); default: the unnamed one. */
  readonly installation?: string;
  /** Its Redis key prefix (`--key-prefix`); default: `<installation>:`, or none. */
  readonly keyPrefix?: string;
  /** Its shard count (`--shards`); must match the control plane's. */
  readonly shardCount?: number;
  /** Its payload limit (`--max-payload-bytes`): a bigger spec is refused before it is pushed. */
  readonly maxPayloadBytes?: number;
  /** How long a status, cancel or logs request waits for an answer. */
  readonly requestTimeoutMs?: number;
}

/**
 * A program's way into one Leasehold installation: what the CLI gives people. It speaks the
 * installation's own Redis (to submit) and NATS (everything else), never HTTP.
 *
 * @example
 * ```ts
 * await using leasehold = await Leasehold.connect({ redis: 'redis://127.0.0.1:6379', nats: 'nats://127.0.0.1:4222' });
 * await leasehold.submit({ id: 'test-1', type: 'trusted', image: 'alpine', cmd: ['echo', 'hello'] });
 * const end = await leasehold.wait('test-1', { timeoutMs: 60_000 });
 * console.log(end.reason, end.exitCode, await leasehold.logs('test-1'));
 * ```
 */
export class Leasehold implements AsyncDisposable {
  private closed = false;
  private readonly watches = new Set<TransitionWatch>();
  private readonly execs = new Set<ExecHandle>();
  private readonly control: ControlRequests;

  private constructor(
    private readonly redis: Redis,
    private readonly nc: NatsConnection,
    private readonly owns: { redis: boolean; nats: boolean },
    readonly keys: Keys,
    readonly subjects: Subjects,
    private readonly maxPayloadBytes: number,
    private readonly requestTimeoutMs: number,
  ) {
    this.control = new ControlRequests(nc, subjects, requestTimeoutMs);
  }

  /** Connects to both servers; fails at once, with a typed error naming the server, if one is unreachable. */
  static async connect(options: ConnectOptions): Promise<Leasehold> {
    const installation = parseInstallation(options.installation ?? '');
    const keys = createKeys(options.keyPrefix ?? installationKeyPrefix(installation), options.shardCount ?? DEFAULT_SHARD_COUNT);
    const redis = typeof options.redis === 'string' ? await openRedis(options.redis) : options.redis;
    let nc: NatsConnection;
    try {
      nc =
        typeof options.nats === 'string'
          ? await dialNats({ url: options.nats, auth: options.natsAuth ?? {} }, { name: 'leasehold-client', reconnect: true })
          : options.nats;
    } catch (error) {
      if (typeof options.redis === 'string') redis.disconnect();
      throw error;
    }
    const owns = { redis: typeof options.redis === 'string', nats: typeof options.nats === 'string' };
    return new Leasehold(redis, nc, owns, keys, subjectsFor(installation), options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, options.requestTimeoutMs ?? 5_000);
  }

  /**
   * Validates `spec` with intake's own schema and limits, pushes it, and resolves once a control
   * plane has recorded it. Submitting an id again with the same spec resolves with the recorded
   * one (`alreadySubmitted`); with a different spec it is a `DuplicateIdError`. Default timeout 30 s.
   */
  async submit(spec: WorkloadSubmission, options: CallOptions = {}): Promise<Submitted> {
    this.checkOpen();
    return await submitWorkload({ redis: this.redis, nc: this.nc, keys: this.keys, subjects: this.subjects, maxPayloadBytes: this.maxPayloadBytes }, spec, options);
  }

  /** Resolves with how `id` ended (reason, exit code), however long that takes unless `timeoutMs` says. */
  async wait(id: string, options: CallOptions = {}): Promise<WorkloadEnd> {
    this.checkOpen(id);
    return await waitForEnd(this.nc, this.subjects, this.control, id, options);
  }

  /**
   * Transitions as an async iterator: of one workload (`watch('test-1')`, ending after its
   * `tornDown`), of all (`watch()`), or filtered (`watch({ state: 'running' })`). Each is delivered
   * once, in order per workload; with history, across lost connections too (see TransitionWatch).
   */
  watch(target?: string | WatchFilter, options: WatchOptions = {}): TransitionWatch {
    const filter = typeof target === 'string' ? { id: target } : (target ?? {});
    this.checkOpen(filter.id);
    if (filter.state !== undefined && !LIFECYCLE_STATES.includes(filter.state)) throw new Error(`unknown state ${String(filter.state)}: one of ${LIFECYCLE_STATES.join(', ')}`);
    const watch: TransitionWatch = new TransitionWatch(this.nc, this.subjects, this.control, filter, options, () => this.watches.delete(watch));
    this.watches.add(watch);
    return watch;
  }

  /** Where `id` is now; null when the control plane knows no such workload. */
  async status(id: string): Promise<WorkloadStatus | null> {
    this.checkOpen(id);
    return await this.control.status(id);
  }

  /** Ends `id` (its end reason will be `cancelled`); resolves with the state it was in. */
  async cancel(id: string): Promise<{ state: LifecycleState | undefined }> {
    this.checkOpen(id);
    return await this.control.cancel(id);
  }

  /** The output the control plane holds for `id`; null when it holds none. */
  async logs(id: string): Promise<string | null> {
    this.checkOpen(id);
    return await this.control.logs(id);
  }

  /**
   * Runs `cmd` (argv) inside running workload `id`: output streamed as it comes, the exit code at
   * the end. Each exec renews the workload's lease while it runs.
   *
   * @example
   * ```ts
   * const run = leasehold.exec('my-session', ['python', '-c', 'print(6 * 7)'], { timeoutMs: 30_000 });
   * for await (const chunk of run.stdout) process.stdout.write(chunk);
   * const { exitCode, reason } = await run.result; // 0 · 3 · null with reason 'timeout' | 'cancelled' | …
   * ```
   */
  exec(id: string, cmd: readonly string[], options: ExecOptions = {}): ExecHandle {
    this.checkOpen(id);
    if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((arg) => typeof arg === 'string')) throw new Error('cmd must be a non-empty array of strings (argv)');
    const handle = execInWorkload(this.nc, this.subjects, id, cmd, options, this.requestTimeoutMs);
    this.execs.add(handle);
    void handle.result.catch(() => undefined).finally(() => this.execs.delete(handle));
    return handle;
  }

  /**
   * Writes `content` to `path` inside running workload `id` (an exec of `cat`, path as argv), replacing
   * the file; resolves with the bytes written, checked against the file's size after.
   *
   * @example
   * ```ts
   * await leasehold.writeFile('my-session', '/tmp/main.py', 'print(6 * 7)\n', { mode: 0o644 });
   * ```
   */
  async writeFile(id: string, path: string, content: Uint8Array | string | AsyncIterable<Uint8Array>, options: WriteFileOptions = {}): Promise<number> {
    this.checkOpen(id);
    return await writeFileIn(this.exec.bind(this), id, path, content, options);
  }

  /**
   * The bytes of `path` inside running workload `id`. Past `maxBytes` (default 16 MiB) the read is
   * stopped and fails with `FileTooLargeError`; a missing file, a directory or a refusal are
   * `FileNotFoundError`, `IsADirectoryError`, `FilePermissionError`.
   */
  async readFile(id: string, path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    this.checkOpen(id);
    return await readFileIn(this.exec.bind(this), id, path, options);
  }

  /** The entries of directory `path` inside running workload `id`: name (exact), type, size. */
  async listDir(id: string, path: string, options: ReadFileOptions = {}): Promise<DirEntry[]> {
    this.checkOpen(id);
    return await listDirIn(this.exec.bind(this), id, path, options);
  }

  /**
   * Renews the lease of running workload `id` (a session's, or any self-heartbeating one's), via
   * whichever replica answers. Rejects with `SessionEndedError` when it is no longer running,
   * `WorkloadNotFoundError` when it is unknown.
   */
  async heartbeat(id: string): Promise<void> {
    this.checkOpen(id);
    await this.control.heartbeat(id);
  }

  /**
   * Opens a session: submits a workload with no `cmd` (every field of `spec` optional; the id is
   * `session-<random>` and the type `untrusted` unless given), waits until it is running, and
   * returns a handle that heartbeats it while open. `timeoutMs` bounds the submit and the wait
   * together (default 120 s); a session that ends before running is a `SessionEndedError`.
   *
   * @example
   * ```ts
   * await using session = await leasehold.session({ image: 'python:3.12', leaseSeconds: 30 });
   * const { exitCode } = await session.exec(['sh', '-c', 'echo hi > /tmp/a']).result;
   * const run = session.exec(['cat', '/tmp/a']);
   * for await (const chunk of run.stdout) process.stdout.write(chunk); // hi
   * ```                                                                   // cancelled on scope exit
   */
  async session(spec: Partial<Omit<WorkloadSubmission, 'cmd' | 'mode'>> = {}, options: CallOptions & { onState?: (state: string) => void } = {}): Promise<SessionHandle> {
    this.checkOpen(spec.id);
    const timeoutMs = options.timeoutMs ?? DEFAULT_SESSION_START_TIMEOUT_MS;
    const startedAt = Date.now();
    const submission = { type: 'untrusted' as const, image: 'alpine', ...spec, id: spec.id ?? `session-${randomBytes(5).toString('hex')}`, mode: 'session' as const };
    const submitted = await this.submit(submission, { ...options, timeoutMs });
    const left = Math.max(1, timeoutMs - (Date.now() - startedAt));
    const calls = {
      exec: this.exec.bind(this),
      writeFile: this.writeFile.bind(this),
      readFile: this.readFile.bind(this),
      listDir: this.listDir.bind(this),
      heartbeat: this.heartbeat.bind(this),
      cancel: this.cancel.bind(this),
      wait: this.wait.bind(this),
    };
    try {
      await waitUntilRunning(this.nc, this.subjects, this.control, submitted.id, { ...options, timeoutMs: left }, options.onState);
    } catch (error) {
      // Not left behind: a session nobody holds would run until its lease lapses.
      await this.control.cancel(submitted.id).catch(() => undefined);
      throw error;
    }
    return new SessionHandle(calls, submitted.spec);
  }

  /** Ends every watch and closes the connections this client opened (not those it was given). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((watch) => watch.close()));
    // Their commands are stopped: nobody is left to read what they write.
    for (const handle of this.execs) handle.abort(new Error('the Leasehold client was closed'));
    if (this.owns.nats) await this.nc.close();
    if (this.owns.redis) await this.redis.quit().catch(() => this.redis.disconnect());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private checkOpen(id?: string): void {
    if (this.closed) throw new Error('this Leasehold client is closed');
    if (id !== undefined && (typeof id !== 'string' || id.length > MAX_ID_LENGTH || !DNS1123_LABEL.test(id))) throw new InvalidIdError(String(id));
  }
}

/** How long `session()` waits, by default, for its session to be recorded and running. */
const DEFAULT_SESSION_START_TIMEOUT_MS = 120_000;

async function openRedis(url: string): Promise<Redis> {
  checkRedisUrl(url);
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  // Reported through the commands that fail; an 'error' event with no listener would crash the program.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return redis;
  } catch (error) {
    redis.disconnect();
    throw new LeaseholdError('REDIS_UNREACHABLE', `cannot reach Redis at ${redactUrl(url)} (${redactUrlsIn(String(error))})`, { cause: error, transient: true });
  }
}
