import { z } from 'zod';
import type { ExecErrorCode } from './transition.js';

export type { ExecErrorCode, ExecHandler, ExecRoute } from './transition.js';

/**
 * The exec protocol on NATS, shared by the control plane (exec-server.ts) and the client
 * (src/client/exec.ts); docs/pending/natsexec.md describes it for other languages.
 *
 * 1. The asker sends a JSON request (ExecRequestBody) to `leasehold.exec.<id>` with an `_INBOX.`
 *    reply subject (a reply subject that is not an inbox is ignored).
 * 2. The control plane streams to that inbox: `started` (the token of this exec), then `stdout`
 *    and `stderr` chunks as the command writes them, then exactly one final `exit` or `error`.
 *    Every message carries the kind and a sequence number (0, 1, 2, …) in headers, so a lost
 *    message is a gap the asker detects. `error` may also be the first message (nothing started).
 * 3. The asker sends on `leasehold.exec.<id>.<token>`: `stdin` chunks (their own sequence, from 0),
 *    `eof`, `cancel`, and a `ping` at least every few seconds: an exec that hears nothing from its
 *    asker for `readerTimeoutMs` is cancelled (nobody is reading its output).
 *    A stdin chunk sent with an `_INBOX.` reply subject is answered (empty) once the command has
 *    taken it; an asker that keeps at most STDIN_WINDOW_BYTES unanswered never has its exec
 *    cancelled for sending faster than the command reads (maxUnreadStdinBytes).
 */

/** Message headers: what the message is, and where it stands in its stream. */
export const EXEC_HEADERS = {
  kind: 'Leasehold-Exec-Kind',
  seq: 'Leasehold-Exec-Seq',
  /** On a request forwarded between replicas only: the asker's inbox, which the owner answers. */
  replyTo: 'Leasehold-Exec-Reply-To',
} as const;

export const EXEC_ANSWER_KINDS = ['started', 'stdout', 'stderr', 'exit', 'error'] as const;
export type ExecAnswerKind = (typeof EXEC_ANSWER_KINDS)[number];
export const EXEC_INPUT_KINDS = ['stdin', 'eof', 'cancel', 'ping'] as const;
export type ExecInputKind = (typeof EXEC_INPUT_KINDS)[number];

/** Why an exec did not run (ExecErrorCode, in transition.ts), for the schema. */
export const EXEC_ERROR_CODES = ['NOT_FOUND', 'NOT_RUNNING', 'UNSUPPORTED', 'BUSY', 'INVALID_REQUEST', 'MOVING', 'FAILED'] as const satisfies readonly ExecErrorCode[];

export interface ExecLimits {
  /** Execs running at once in one workload; past it, `BUSY`. */
  readonly maxPerWorkload: number;
  /** Execs running at once on one replica; past it, `BUSY`. */
  readonly maxPerReplica: number;
  /** Largest stdout/stderr payload of one message; a bigger chunk is split. */
  readonly chunkBytes: number;
  /** An exec whose asker sent nothing (not even a ping) for this long is cancelled. */
  readonly readerTimeoutMs: number;
  /** Largest request body. */
  readonly maxRequestBytes: number;
  /**
   * Output handed to the NATS connection and not yet confirmed written (a flush) past which the
   * exec is cancelled: a command writing faster than NATS takes it must not fill this process's memory.
   */
  readonly maxUnflushedBytes: number;
  /**
   * Stdin received and not yet taken by the command past which the exec is cancelled: NATS cannot
   * slow a publisher down, so without it an asker could park gigabytes in this process by sending
   * stdin to a command that does not read it. Askers that wait for stdin acks never come near it.
   */
  readonly maxUnreadStdinBytes: number;
}

export const DEFAULT_EXEC_LIMITS: ExecLimits = {
  maxPerWorkload: 8,
  maxPerReplica: 64,
  chunkBytes: 64 * 1024,
  readerTimeoutMs: 30_000,
  maxRequestBytes: 256 * 1024,
  maxUnflushedBytes: 8 * 1024 * 1024,
  maxUnreadStdinBytes: 8 * 1024 * 1024,
};

/**
 * Stdin an asker sends ahead of the command's reading: it waits for acks beyond this. Well under
 * DEFAULT_EXEC_LIMITS.maxUnreadStdinBytes, so that an asker that waits is never cancelled.
 */
export const STDIN_WINDOW_BYTES = 2 * 1024 * 1024;

/** How often the client pings; well under DEFAULT_EXEC_LIMITS.readerTimeoutMs. */
export const DEFAULT_PING_MS = 5_000;

const noNul = (what: string) => z.string().refine((s) => !s.includes('\0'), `${what} must not contain NUL bytes`);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The request body, as JSON. */
export const ExecRequestBodySchema = z
  .object({
    cmd: z.array(noNul('cmd arguments').max(128 * 1024)).min(1, 'cmd needs a program').max(4096),
    env: z
      .record(z.string().regex(ENV_NAME, 'env names must be variable names ([A-Za-z_][A-Za-z0-9_]*)'), noNul('env values'))
      .refine((env) => Object.keys(env).length <= 1024, 'at most 1024 env variables')
      .optional(),
    cwd: noNul('cwd').min(1).max(4096).optional(),
    timeoutMs: z.number().int().positive().max(24 * 3600_000).optional(),
    /** True: stdin chunks follow on the input subject; false or absent: stdin is closed at once. */
    stdin: z.boolean().optional(),
  })
  .strict();
export type ExecRequestBody = z.infer<typeof ExecRequestBodySchema>;

/** `stdinAcks`: stdin chunks sent with an `_INBOX.` reply subject are answered once the command has taken them. */
export const ExecStartedSchema = z.object({ exec: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/), stdinAcks: z.boolean().optional() });
export const ExecExitSchema = z.object({ exitCode: z.number().int().nullable(), reason: z.string().optional() });
export const ExecErrorSchema = z.object({ error: z.string(), code: z.enum(EXEC_ERROR_CODES) });

/** The message body of a JSON kind, as bytes. */
export function jsonBody(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}
