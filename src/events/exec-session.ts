import { randomBytes } from 'node:crypto';
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../log.js';
import type { ExecRequest, ExecResult } from '../runtime/exec.js';
import { EXEC_HEADERS, jsonBody, type ExecAnswerKind, type ExecErrorCode, type ExecLimits, type ExecRequestBody, type ExecRoute } from './exec-protocol.js';
import type { Subjects } from './transition.js';
import { ByteQueue } from './exec-byte-queue.js';

/** The control plane publishes on inboxes only (control-gate.ts): an ack goes nowhere else. */
const INBOX_PREFIX = '_INBOX.';
/** How much output goes out between two flushes. */
const FLUSH_EVERY_BYTES = 256 * 1024;

/**
 * The answer stream to one asker's inbox: every message numbered, in the order it was written.
 * Publishing never throws here: a closed connection ends the exec through the reader timeout.
 */
export class ExecAnswers {
  private seq = 0;
  /** Bytes published and not yet known to have left (nats.js does not say how much it holds). */
  private unflushed = 0;
  private flushing = false;
  /** Told once when more than `maxUnflushedBytes` wait to be written. */
  onOverflow: () => void = () => undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly inbox: string,
    private readonly maxUnflushedBytes = Number.POSITIVE_INFINITY,
  ) {}

  send(kind: ExecAnswerKind, body: Uint8Array): void {
    const h = natsHeaders();
    h.set(EXEC_HEADERS.kind, kind);
    h.set(EXEC_HEADERS.seq, String(this.seq++));
    try {
      this.nc.publish(this.inbox, body, { headers: h });
    } catch {
      // The connection is closed; the asker learns from the gap or from its own timeout.
      return;
    }
    this.unflushed += body.length;
    if (this.unflushed > this.maxUnflushedBytes) {
      this.onOverflow();
      this.onOverflow = () => undefined;
    }
    if (!this.flushing && this.unflushed >= FLUSH_EVERY_BYTES) this.flush();
  }

  /** A flush (a PING the server answers after reading all before it) says what was written has left. */
  private flush(): void {
    const sent = this.unflushed;
    this.flushing = true;
    void this.nc
      .flush()
      .then(() => {
        this.unflushed -= sent;
        this.flushing = false;
        if (this.unflushed >= FLUSH_EVERY_BYTES) this.flush();
      })
      .catch(() => undefined); // closed: nothing more is written
  }

  error(code: ExecErrorCode, message: string): void {
    this.send('error', jsonBody({ error: message, code }));
  }
}

/**
 * One exec served on this replica: its input subject (stdin, eof, cancel, ping), the reader
 * timeout, and the command run through the runtime with its output streamed as it comes.
 */
export async function runExecSession(options: {
  nc: NatsConnection;
  subjects: Subjects;
  id: string;
  body: ExecRequestBody;
  run: Extract<ExecRoute, { run: unknown }>['run'];
  answers: ExecAnswers;
  limits: ExecLimits;
  log: Logger;
  /** Aborted when the server stops. */
  stopped: AbortSignal;
}): Promise<void> {
  const { nc, subjects, id, body, answers, limits, log } = options;
  // Unguessable: anyone allowed to publish on leasehold.exec.> could otherwise feed another asker's exec.
  const token = randomBytes(18).toString('base64url');
  const abort = new AbortController();
  const cancel = (reason: string) => {
    if (!abort.signal.aborted) abort.abort(new Error(reason));
  };
  const onStop = () => cancel('the control plane is stopping');
  options.stopped.addEventListener('abort', onStop, { once: true });
  let readerTimer: NodeJS.Timeout | null = null;
  const heardFromReader = () => {
    if (readerTimer) clearTimeout(readerTimer);
    readerTimer = setTimeout(() => cancel('no reader'), limits.readerTimeoutMs);
  };
  const stdin = body.stdin ? new ByteQueue() : null;
  let stdinSeq = 0;
  let subscription: Subscription | null = null;
  try {
    subscription = nc.subscribe(subjects.execInput(id, token), {
      callback: (error, msg) => {
        if (!error) onInput(msg);
      },
    });
    const onInput = (msg: Msg) => {
      heardFromReader();
      const kind = msg.headers?.get(EXEC_HEADERS.kind);
      // Asked as a request, a ping is answered: the asker learns the exec still runs here.
      if (kind === 'ping' && msg.reply?.startsWith(INBOX_PREFIX)) return ack(msg.reply);
      if (kind === 'cancel') return cancel('cancelled');
      if (kind === 'eof') return stdin?.end();
      if (kind !== 'stdin' || !stdin) return;
      // A lost stdin chunk would feed the command corrupt input: stop it rather than go on.
      if (msg.headers?.get(EXEC_HEADERS.seq) !== String(stdinSeq++)) return cancel('a stdin chunk was lost');
      // Answered once the command has taken the chunk: the asker's flow control (STDIN_WINDOW_BYTES).
      const reply = msg.reply;
      stdin.push(msg.data, reply?.startsWith(INBOX_PREFIX) ? () => ack(reply) : undefined);
      // NATS cannot slow the asker down: what the command has not read waits here, so it is bounded.
      if (stdin.pendingBytes > limits.maxUnreadStdinBytes) cancel('stdin faster than the command reads it');
    };
    const ack = (reply: string) => {
      try {
        nc.publish(reply);
      } catch {
        // closed: the asker learns from its own connection
      }
    };
    answers.onOverflow = () => cancel('output faster than NATS takes it');
    heardFromReader();
    answers.send('started', jsonBody({ exec: token, stdinAcks: true }));
    const split = (kind: 'stdout' | 'stderr') => (chunk: Uint8Array) => {
      for (let at = 0; at < chunk.length; at += limits.chunkBytes) answers.send(kind, chunk.subarray(at, at + limits.chunkBytes));
    };
    const request: ExecRequest = {
      cmd: body.cmd,
      ...(body.env ? { env: body.env } : {}),
      ...(body.cwd ? { cwd: body.cwd } : {}),
      ...(body.timeoutMs ? { timeoutMs: body.timeoutMs } : {}),
      ...(stdin ? { stdin } : {}),
    };
    let result: ExecResult;
    try {
      result = await options.run(request, { stdout: split('stdout'), stderr: split('stderr') }, abort.signal);
    } catch (error) {
      answers.error(execErrorCode((error as { code?: unknown }).code), error instanceof Error ? error.message : String(error));
      return;
    }
    // Ours says more than the runtime's 'cancelled': no reader, a lost stdin chunk, a stop.
    const reason = result.exitCode === null && abort.signal.aborted ? (abort.signal.reason as Error).message : result.reason;
    answers.send('exit', jsonBody({ exitCode: result.exitCode, ...(reason !== undefined ? { reason } : {}) }));
  } catch (error) {
    log.warn({ err: error, workload: id }, 'exec failed');
    answers.error('FAILED', 'the exec failed in the control plane');
  } finally {
    if (readerTimer) clearTimeout(readerTimer);
    options.stopped.removeEventListener('abort', onStop);
    subscription?.unsubscribe();
    stdin?.end();
  }
}

/** What the asker is told when the runtime would not start the command: the runtime's reason, in the protocol's words. */
function execErrorCode(runtimeCode: unknown): ExecErrorCode {
  switch (runtimeCode) {
    case 'WORKLOAD_NOT_RUNNING':
    case 'WORKLOAD_NOT_FOUND':
      return 'NOT_RUNNING';
    // A launcher that cannot exec, or a guest without its exec agent: this workload's sandbox cannot.
    case 'EXEC_UNSUPPORTED':
    case 'EXEC_UNAVAILABLE':
      return 'UNSUPPORTED';
    // A guest agent that refused the request.
    case 'EXEC_REFUSED':
    // A request the runtime refuses (an env name it reserves, a NUL byte): the asker's to fix.
    case 'INVALID_EXEC':
      return 'INVALID_REQUEST';
    default:
      return 'FAILED';
  }
}
