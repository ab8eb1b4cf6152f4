import { createInbox, headers as natsHeaders, PermissionViolationError, RequestError, type Msg, type NatsConnection, type Status } from '@nats-io/transport-node';
import { LeaseholdError } from '../errors.js';
import { ByteQueue } from '../events/exec-byte-queue.js';
import {
  DEFAULT_EXEC_LIMITS,
  DEFAULT_PING_MS,
  EXEC_HEADERS,
  ExecErrorSchema,
  ExecExitSchema,
  ExecStartedSchema,
  STDIN_WINDOW_BYTES,
  type ExecErrorCode,
  type ExecInputKind,
  type ExecRequestBody,
} from '../events/exec-protocol.js';
import type { Subjects } from '../events/transition.js';
import type { ExecResult } from '../runtime/exec.js';
import { ControlPlaneUnavailableError, NatsPermissionError, WorkloadNotFoundError } from './errors.js';

export type { ExecResult } from '../runtime/exec.js';

export interface ExecOptions {
  /** Added to the workload's environment for this command. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory inside the workload. */
  readonly cwd?: string;
  /** The command is ended (result `{exitCode: null, reason: 'timeout'}`) after this long. */
  readonly timeoutMs?: number;
  /** The command's stdin; absent: stdin is closed at once. */
  readonly stdin?: AsyncIterable<Uint8Array | string> | Uint8Array | string;
  /** Aborting cancels the command and rejects `result` with the signal's reason, as `fetch` does. */
  readonly signal?: AbortSignal;
  /** Called with each chunk as it comes (besides the `stdout`/`stderr` iterables). */
  readonly onStdout?: (chunk: Uint8Array) => void;
  readonly onStderr?: (chunk: Uint8Array) => void;
  /** How long to wait for a control plane to take the request; default the client's request timeout. */
  readonly startTimeoutMs?: number;
  /** How often to tell the control plane the output is still being read (it cancels an exec nobody reads). */
  readonly pingMs?: number;
}

/** A running exec: its output as it comes, and how it ended. */
export interface ExecHandle {
  /** Each stdout chunk, in order; ends with the command. One reader. Unread chunks wait in memory. */
  readonly stdout: AsyncIterable<Uint8Array>;
  readonly stderr: AsyncIterable<Uint8Array>;
  /** How it ended: `{exitCode}`, or `{exitCode: null, reason}` (timeout, cancelled, no reader…). Rejects when it could not run. */
  readonly result: Promise<ExecResult>;
  /** Stops the command; `result` rejects with an AbortError. */
  abort(reason?: unknown): void;
}

/** The control plane could not run the command (`code`: NOT_RUNNING, BUSY, MOVING, …), or the stream broke. */
export class ExecFailedError extends LeaseholdError {
  constructor(
    readonly id: string,
    code: ExecErrorCode | 'LOST_OUTPUT',
    message: string,
  ) {
    super(code, message, { transient: code === 'BUSY' || code === 'MOVING' || code === 'LOST_OUTPUT' });
  }
}

/**
 * After a ping finds nobody on the exec's input subject, when to ask again before the exec counts
 * as lost: its end may still be on its way (sent just before the control plane let go of the
 * subject), or, just after a NATS restart, the control plane may not have subscribed again yet.
 */
const RECHECK_AFTER_MS = 2_000;

/** Most bytes published between flushes: a large stdin waits for the server rather than filling memory. */
const STDIN_FLUSH_BYTES = 1024 * 1024;

/**
 * Runs `cmd` in workload `id` over the exec protocol (src/events/exec-protocol.ts): one request,
 * then the answer stream on a fresh inbox, checked message by message (a gap in the sequence is
 * lost output, reported, never papered over).
 */
export function execInWorkload(nc: NatsConnection, subjects: Subjects, id: string, cmd: readonly string[], options: ExecOptions, defaultTimeoutMs: number): ExecHandle {
  const stdout = new ByteQueue();
  const stderr = new ByteQueue();
  const internal = new AbortController();
  const abort = (reason?: unknown) => internal.abort(reason ?? new DOMException('the exec was aborted', 'AbortError'));
  const onAbort = () => abort(options.signal?.reason);
  if (options.signal?.aborted) abort(options.signal.reason);
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const result = new Promise<ExecResult>((resolve, reject) => {
    const inbox = createInbox(); // _INBOX.<nuid>: the control plane answers inboxes only
    const requestSubject = subjects.exec(id);
    let expected = 0;
    let inputSubject: string | null = null;
    let pingTimer: NodeJS.Timeout | null = null;
    let settled = false;
    /** Given up before the `started` answer came: its token is still needed to stop the command. */
    let cancelOnStart = false;
    let requested = false;
    let lingerTimer: NodeJS.Timeout | null = null;
    const statuses = nc.status() as AsyncIterable<Status> & { stop?: () => void };

    /** Set from `started`: the control plane answers stdin chunks once taken, so we can wait for it. */
    let stdinAcks = false;
    const send = (kind: ExecInputKind, body: Uint8Array = new Uint8Array(), seq?: number, reply?: string) => {
      if (!inputSubject || nc.isClosed()) return;
      const h = natsHeaders();
      h.set(EXEC_HEADERS.kind, kind);
      if (seq !== undefined) h.set(EXEC_HEADERS.seq, String(seq));
      nc.publish(inputSubject, body, { headers: h, ...(reply !== undefined ? { reply } : {}) });
    };
    const finish = (outcome: { value: ExecResult } | { error: unknown }) => {
      if (settled) return;
      settled = true;
      clearTimeout(startTimer);
      if (pingTimer) clearInterval(pingTimer);
      if (cancelOnStart) {
        // The request may already run on the control plane: keep listening (no longer than the
        // start timeout) for its token, then cancel it, rather than leave it to the reader timeout.
        lingerTimer = setTimeout(() => subscription.unsubscribe(), startTimeoutMs);
        lingerTimer.unref();
      } else subscription.unsubscribe();
      statuses.stop?.();
      options.signal?.removeEventListener('abort', onAbort);
      internal.signal.removeEventListener('abort', onInternalAbort);
      acks?.unsubscribe();
      windowOpen?.();
      stdout.end();
      stderr.end();
      if ('value' in outcome) resolve(outcome.value);
      else reject(outcome.error);
    };
    const fail = (error: unknown) => {
      // Whatever runs is stopped: nobody will read what it writes.
      try {
        if (inputSubject) send('cancel');
        else cancelOnStart = requested && !nc.isClosed();
      } catch {
        // closed: the control plane's reader timeout stops it
      }
      finish({ error });
    };
    const onInternalAbort = () => fail(internal.signal.reason);

    /**
     * A ping is a request: while the exec runs, the control plane holds its input subject (and
     * answers). Nobody there means the exec is over on the control plane — its `exit` lost in a NATS
     * outage, or the control plane killed — and no answer will ever come: say so rather than wait.
     */
    const ping = (recheck: boolean) => {
      if (!inputSubject || nc.isClosed() || settled) return;
      const h = natsHeaders();
      h.set(EXEC_HEADERS.kind, 'ping');
      nc.request(inputSubject, new Uint8Array(), { headers: h, timeout: options.pingMs ?? DEFAULT_PING_MS }).then(
        () => undefined,
        (error: unknown) => {
          if (settled || !(error instanceof RequestError && error.isNoResponders())) return; // a slow answer is no news
          if (!recheck) return void setTimeout(() => ping(true), RECHECK_AFTER_MS).unref();
          fail(new ExecFailedError(id, 'LOST_OUTPUT', `exec in ${id}: the control plane no longer runs it and its end never arrived (a NATS outage, or the control plane stopped); how the command ended is not known`));
        },
      );
    };

    const onMessage = (msg: Msg) => {
      if (settled) return cancelLateStart(msg);
      // The control plane's answers carry no reply subject and are no JetStream status (100). Such
      // a message was delivered here by a JetStream push consumer, which anyone allowed to create
      // consumers may aim at any subject it read on _INBOX.> (nats-server does not check the
      // deliver subject against its creator's permissions): not of this stream, so not a gap in it.
      if (msg.reply || msg.headers?.code === 100) return;
      if (msg.headers?.code === 503) return fail(new ControlPlaneUnavailableError(`no control plane serves exec on ${requestSubject}`));
      const kind = msg.headers?.get(EXEC_HEADERS.kind);
      const seq = msg.headers?.get(EXEC_HEADERS.seq);
      // Every answer has both headers. A message with neither is nobody's answer (an ack or ping
      // answer that another asker aimed here); a lost answer still shows as the next one's gap.
      if (!kind && !seq) return;
      if (seq !== String(expected)) {
        return fail(new ExecFailedError(id, 'LOST_OUTPUT', `exec in ${id}: message ${expected} of the answer stream was lost (got ${seq ?? 'none'}); the output is incomplete`));
      }
      expected++;
      try {
        if (kind === 'stdout' || kind === 'stderr') {
          const chunk = msg.data;
          (kind === 'stdout' ? options.onStdout : options.onStderr)?.(chunk);
          (kind === 'stdout' ? stdout : stderr).push(chunk);
        } else if (kind === 'started' && expected === 1) {
          const started = ExecStartedSchema.parse(msg.json());
          inputSubject = subjects.execInput(id, started.exec);
          stdinAcks = started.stdinAcks === true;
          clearTimeout(startTimer);
          pingTimer = setInterval(() => ping(false), options.pingMs ?? DEFAULT_PING_MS);
          if (options.stdin !== undefined) void pumpStdin(options.stdin);
        } else if (kind === 'exit') {
          const { exitCode, reason } = ExecExitSchema.parse(msg.json());
          finish({ value: { exitCode, ...(reason !== undefined ? { reason } : {}) } });
        } else if (kind === 'error') {
          const { code, error } = ExecErrorSchema.parse(msg.json());
          finish({ error: code === 'NOT_FOUND' ? new WorkloadNotFoundError(id) : new ExecFailedError(id, code, error) });
        } else {
          fail(new ControlPlaneUnavailableError(`the exec answer stream for ${id} holds a message that is not of the protocol (${kind ?? 'no kind'})`));
        }
      } catch (error) {
        fail(new ControlPlaneUnavailableError(`the exec answer stream for ${id} holds a malformed ${kind} message`, error));
      }
    };

    /** After a give-up: the first answer, if it is `started`, carries the token that cancels the command. */
    const cancelLateStart = (msg: Msg) => {
      if (!cancelOnStart) return;
      cancelOnStart = false;
      if (lingerTimer) clearTimeout(lingerTimer);
      subscription.unsubscribe();
      if (msg.headers?.get(EXEC_HEADERS.kind) !== 'started' || msg.headers.get(EXEC_HEADERS.seq) !== '0') return;
      try {
        inputSubject = subjects.execInput(id, ExecStartedSchema.parse(msg.json()).exec);
        send('cancel');
      } catch {
        // malformed or closed: the control plane's reader timeout stops it
      }
    };

    /** Stdin acks (when the control plane gives them): sizes of the chunks not yet taken, in order. */
    let acks: ReturnType<NatsConnection['subscribe']> | null = null;
    const unacked: number[] = [];
    let unackedBytes = 0;
    let windowOpen: (() => void) | null = null;
    const onAck = () => {
      unackedBytes -= unacked.shift() ?? 0;
      if (unackedBytes <= STDIN_WINDOW_BYTES) windowOpen?.();
    };
    /** Waits while more than STDIN_WINDOW_BYTES are ahead of the command: it is the command's pace, not NATS's, that stdin goes at. */
    const window = async () => {
      while (!settled && unackedBytes > STDIN_WINDOW_BYTES) {
        await new Promise<void>((resolve) => (windowOpen = resolve));
        windowOpen = null;
      }
    };

    const pumpStdin = async (source: NonNullable<ExecOptions['stdin']>) => {
      let seq = 0;
      let unflushed = 0;
      const ackInbox = stdinAcks ? createInbox() : undefined;
      if (ackInbox) acks = nc.subscribe(ackInbox, { callback: (error) => (error ? undefined : onAck()) });
      try {
        const chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> = typeof source === 'string' || source instanceof Uint8Array ? [source] : source;
        for await (const raw of chunks) {
          if (settled) return;
          const bytes = typeof raw === 'string' ? Buffer.from(raw) : raw;
          for (let at = 0; at < bytes.length; at += DEFAULT_EXEC_LIMITS.chunkBytes) {
            await window();
            if (settled) return;
            const piece = bytes.subarray(at, at + DEFAULT_EXEC_LIMITS.chunkBytes);
            if (ackInbox) {
              unacked.push(piece.length);
              unackedBytes += piece.length;
            }
            send('stdin', piece, seq++, ackInbox);
            unflushed += piece.length;
          }
          if (unflushed >= STDIN_FLUSH_BYTES) {
            unflushed = 0;
            await nc.flush();
          }
        }
        if (!settled) send('eof');
      } catch (error) {
        fail(error);
      }
    };

    const subscription = nc.subscribe(inbox, { callback: (error, msg) => (error ? fail(error) : onMessage(msg)) });
    // A closed connection ends the subscription without a message: without this the result would
    // wait, and the ping timer hold the process, for ever.
    void subscription.closed.then(() => fail(new ControlPlaneUnavailableError(`the NATS connection closed during exec in ${id}; the command's end is not known`)));
    const startTimeoutMs = options.startTimeoutMs ?? defaultTimeoutMs;
    const startTimer = setTimeout(() => fail(new ControlPlaneUnavailableError(`no control plane answered exec in ${id} within ${startTimeoutMs} ms`)), startTimeoutMs);
    // nats.js reports a refused subject asynchronously; without this it would look like nobody answered.
    void (async () => {
      for await (const status of statuses) {
        if (status.type !== 'error' || !(status.error instanceof PermissionViolationError)) continue;
        const { subject: denied, operation } = status.error;
        if (denied === requestSubject || denied === inbox || denied === inputSubject) fail(new NatsPermissionError(denied, operation === 'publish' ? 'publish' : 'subscribe'));
      }
    })();
    internal.signal.addEventListener('abort', onInternalAbort, { once: true });
    if (internal.signal.aborted) return onInternalAbort();

    const body: ExecRequestBody = {
      cmd: [...cmd],
      ...(options.env ? { env: { ...options.env } } : {}),
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.stdin !== undefined ? { stdin: true } : {}),
    };
    try {
      nc.publish(requestSubject, Buffer.from(JSON.stringify(body)), { reply: inbox });
      requested = true;
    } catch (error) {
      fail(new ControlPlaneUnavailableError(`could not send exec in ${id}: ${String(error)}`, error));
    }
  });
  result.catch(() => undefined); // the caller awaits it, or not: never an unhandled rejection
  return { stdout, stderr, result, abort };
}
