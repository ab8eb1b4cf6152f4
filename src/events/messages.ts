import { z } from 'zod';
import { LIFECYCLE_STATES, WORKLOAD_TYPES, type EndReason } from '../../machines/index.js';
import { DNS1123_LABEL, MAX_ID_LENGTH } from '../spec/index.js';
import { SUBJECTS, type Subjects, type TransitionMessage, type WorkloadStatus } from './transition.js';

/**
 * Shape checks for what arrives from NATS. Whoever may publish on a subject is the NATS server's
 * to decide; these make sure that whatever arrives anyway (a misconfigured server, a bug, a
 * replay of old data) is either a well-formed message or ignored, never a crash or a lie about
 * a different workload. Unknown fields are dropped.
 */

const END_REASONS = ['completed', 'failed', 'leaseExpired', 'cancelled', 'deadline', 'lost', 'rejected', 'provisionTimeout'] as const;
// Fails to compile when EndReason gains a member this list lacks.
const everyReasonListed: [Exclude<EndReason, (typeof END_REASONS)[number]>] extends [never] ? true : never = true;
void everyReasonListed;

const ID = z.string().max(MAX_ID_LENGTH).regex(DNS1123_LABEL);
const SEQ = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/**
 * Exit codes are small integers (negative ones are signals on some runtimes); a digit string is
 * read as one, anything else is dropped rather than costing the whole message.
 */
const EXIT_CODE = z.unknown().optional().transform((value): number | undefined => {
  const n = typeof value === 'string' && /^-?\d{1,10}$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && Math.abs(n) <= 2 ** 31 ? n : undefined;
});
/** The event that caused a transition: free text to whoever shows it, cut short. */
export const MAX_EVENT_LENGTH = 100;
const EVENT = z.unknown().optional().transform((value) => {
  const s = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
  return cut(s, MAX_EVENT_LENGTH);
});
/** Free text (an error, why a workload waits) is cut, not refused: a long error is still news. */
export const MAX_TEXT_LENGTH = 2_000;
const TEXT = z.string().transform((s) => cut(s, MAX_TEXT_LENGTH));
const state = z.enum(LIFECYCLE_STATES);

const transition = z.object({
  id: ID,
  type: z.enum(WORKLOAD_TYPES),
  from: state.nullable(),
  to: state,
  event: EVENT,
  reason: z.enum(END_REASONS).optional(),
  exitCode: EXIT_CODE,
  error: TEXT.optional(),
  at: z.iso.datetime(),
  seq: SEQ,
  epoch: SEQ.optional(),
}).transform(withoutUndefined);

const status = z.object({
  id: ID,
  type: z.enum(WORKLOAD_TYPES),
  state,
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  reason: z.enum(END_REASONS).optional(),
  exitCode: EXIT_CODE,
  error: TEXT.optional(),
  waiting: TEXT.optional(),
  timings: z.partialRecord(state, z.iso.datetime()),
}).transform(withoutUndefined);

/** A dropped optional field is absent, as the control plane would have sent it, not `undefined`. */
function withoutUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

const refusal = z.strictObject({ error: TEXT });
// Logs are the workload's own output: kept whole here; whoever shows them decides how much.
const cancelReply = z.object({ ok: z.boolean(), state: state.optional(), error: TEXT.optional() });
const OFFSET = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** `start`/`end`: byte offsets of `logs` in all the output, answered to an asker that sent `from`. */
const logsReply = z
  .object({ id: ID, logs: z.string(), start: OFFSET.optional(), end: OFFSET.optional() })
  .refine((l) => (l.start === undefined) === (l.end === undefined) && (l.start === undefined || l.start <= l.end!))
  .transform(withoutUndefined);
/** A logs request's body: empty (the tail, as every version answers) or `{"from": <byte offset>}`. */
const logsRequest = z.looseObject({ from: OFFSET });

/** What the control plane answers: the thing asked for, or its reason for not giving it. */
export type Reply<T> = { ok: true; value: T } | { ok: false; error: string };

function json(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A transition, or null when the bytes are not one or disagree with the subject they came on
 * (`workloads.<id>.<to>` of the installation `subjects` names): a message for one workload
 * cannot speak for another.
 */
export function parseTransition(data: Uint8Array, subject?: string, subjects: Subjects = SUBJECTS): TransitionMessage | null {
  const result = transition.safeParse(json(data));
  if (!result.success) return null;
  const t = result.data as TransitionMessage;
  if (subject !== undefined && subject !== subjects.transition(t.id, t.to)) return null;
  return t;
}

function reply<T>(data: Uint8Array, schema: z.ZodType<T>, check: (value: T) => boolean): Reply<T> | null {
  const body = json(data);
  const value = schema.safeParse(body);
  if (value.success && check(value.data)) return { ok: true, value: value.data };
  const refused = refusal.safeParse(body);
  return refused.success ? { ok: false, error: refused.data.error } : null;
}

/** A status reply for workload `id`; null when it is junk or about another workload. */
export function parseStatusReply(data: Uint8Array, id: string): Reply<WorkloadStatus> | null {
  return reply(data, status as z.ZodType<WorkloadStatus>, (s) => s.id === id);
}

export function parseCancelReply(data: Uint8Array): Reply<z.infer<typeof cancelReply>> | null {
  return reply(data, cancelReply, () => true);
}

export interface LogsAnswer {
  readonly id: string;
  readonly logs: string;
  /** Present when the asker sent `from` and the runtime keeps offsets: where `logs` starts and ends. */
  readonly start?: number;
  readonly end?: number;
}

export function parseLogsReply(data: Uint8Array, id: string): Reply<LogsAnswer> | null {
  return reply(data, logsReply as z.ZodType<LogsAnswer>, (l) => l.id === id);
}

/** The offset a logs request asks from; null for the plain request (an empty or unreadable body). */
export function parseLogsRequest(data: Uint8Array): number | null {
  if (data.length === 0) return null;
  const request = logsRequest.safeParse(json(data));
  return request.success ? request.data.from : null;
}
