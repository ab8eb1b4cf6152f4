import { isDeepStrictEqual } from 'node:util';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import type { Subjects } from '../events/transition.js';
import type { Keys } from '../keys.js';
import { parseSubmission, type WorkloadSpec, type WorkloadSubmission } from '../spec/index.js';
import { CallDeadline, type CallOptions } from './deadline.js';
import { DuplicateIdError, InvalidSpecError, SubmissionRefusedError } from './errors.js';

/** What `submit` resolves with once the workload is recorded. */
export interface Submitted {
  readonly id: string;
  /** The spec as recorded: defaults filled in, quantities as strings. */
  readonly spec: WorkloadSpec;
  /** True when the id was already recorded with this same spec before this call (nothing was pushed). */
  readonly alreadySubmitted: boolean;
}

export interface SubmitContext {
  readonly redis: Redis;
  readonly nc: NatsConnection;
  readonly keys: Keys;
  readonly subjects: Subjects;
  readonly maxPayloadBytes: number;
}

/** How long a submit waits, by default, for a control plane to record what it pushed. */
export const DEFAULT_SUBMIT_TIMEOUT_MS = 30_000;
/** The fallback reads of the record back off to this: it is a safety net, not the way we learn. */
const MAX_CHECK_INTERVAL_MS = 1_000;
/** How many of the newest dead letters are read to learn whether intake refused our entry. */
const DEAD_LETTERS_LOOKED_AT = 100;

/**
 * Validates `submission` as intake does, pushes it, and resolves once a control plane has recorded
 * it. Idempotent by id: an id already recorded with the same spec resolves with it; with another
 * spec it is a {@link DuplicateIdError}.
 *
 * "Recorded" is learnt without a hot loop: a subscription to the workload's transitions is made
 * before the push, and its first transition (`queued`, published once its record is written) ends
 * the wait. A record written into the inbox of a shard nobody owns yet has no transition until an
 * owner comes, so the record and the dead-letter list are also read, at growing intervals.
 */
export async function submitWorkload(context: SubmitContext, submission: WorkloadSubmission, options: CallOptions = {}): Promise<Submitted> {
  const { redis, nc, keys, subjects } = context;
  const spec = validate(submission, context.maxPayloadBytes);
  const recordKey = keys.workload(spec.id);
  const existing = await recordedSpec(redis, recordKey);
  if (existing !== null) return verdict(spec, existing, true);

  // The entry pushed is the normalized spec: intake parses it to the very same spec, so what is
  // recorded can be compared with what was asked for, field by field.
  const entry = JSON.stringify(spec);
  let heard = () => undefined as void;
  const transition = new Promise<void>((resolve) => (heard = resolve));
  const subscription = nc.subscribe(subjects.watch(spec.id), { max: 1, callback: () => heard() });
  const deadline = new CallDeadline({ ...options, timeoutMs: options.timeoutMs ?? DEFAULT_SUBMIT_TIMEOUT_MS }, async () => {
    const queued = (await redis.lpos(keys.queue, entry).catch(() => null)) !== null;
    return queued
      ? `workload ${spec.id} is still in ${keys.queue}: no control plane took it (is one running against this Redis, with this key prefix?). The entry stays there and will run when one does`
      : `workload ${spec.id} left ${keys.queue} but was not recorded in time; \`status\` will tell whether it was`;
  });
  try {
    await nc.flush();
    await redis.lpush(keys.queue, entry);
    let wake: Promise<void> | null = transition;
    let interval = 50;
    for (;;) {
      const woken = await deadline.pause(interval, wake);
      if (woken) wake = null; // one transition is news; more of them are not worth a read each
      const outcome = await lookUp(redis, keys, recordKey, entry, spec);
      if (outcome) return outcome;
      if (deadline.isOver) await deadline.stopped;
      interval = Math.min(interval * 2, MAX_CHECK_INTERVAL_MS);
    }
  } finally {
    subscription.unsubscribe();
    deadline.dispose();
  }
}

function validate(submission: WorkloadSubmission, maxPayloadBytes: number): WorkloadSpec {
  const parsed = parseSubmission(JSON.stringify(submission), maxPayloadBytes);
  if (!parsed.ok) throw new InvalidSpecError(parsed.kind, parsed.reason);
  // Defaults filled in make the entry longer than what was given: intake measures what is pushed.
  const bytes = Buffer.byteLength(JSON.stringify(parsed.spec));
  if (bytes > maxPayloadBytes) throw new InvalidSpecError('oversized', `payload of ${bytes} bytes is over the limit of ${maxPayloadBytes} bytes`);
  return parsed.spec;
}

async function recordedSpec(redis: Redis, recordKey: string): Promise<unknown> {
  const stored = await redis.hget(recordKey, 'spec');
  if (stored === null) return null;
  try {
    return JSON.parse(stored) as unknown;
  } catch {
    return stored; // not ours to read: compared, it differs
  }
}

function verdict(spec: WorkloadSpec, recorded: unknown, alreadySubmitted: boolean): Submitted {
  // Compared as values, not as text: key order is not part of a spec.
  if (!isDeepStrictEqual(recorded, JSON.parse(JSON.stringify(spec)))) throw new DuplicateIdError(spec.id);
  return { id: spec.id, spec, alreadySubmitted };
}

/**
 * The submission's fate, if it is known yet: recorded (with our spec, or another), or refused into
 * the dead-letter list. A "duplicate id" dead letter is someone else's entry winning the race for
 * the id: the record it left decides, so an identical concurrent submit still succeeds.
 */
async function lookUp(redis: Redis, keys: Keys, recordKey: string, entry: string, spec: WorkloadSpec): Promise<Submitted | null> {
  const recorded = await recordedSpec(redis, recordKey);
  if (recorded !== null) return verdict(spec, recorded, false);
  const letters = await redis.lrange(keys.dead, -DEAD_LETTERS_LOOKED_AT, -1);
  for (const letter of letters.reverse()) {
    const refused = readDeadLetter(letter);
    if (!refused || !isOurs(refused, entry)) continue;
    // A duplicate with no record left: an old letter of the same entry (its record expired since).
    if (refused.reason.startsWith('duplicate id ')) continue;
    throw new SubmissionRefusedError(spec.id, refused.reason);
  }
  return null;
}

/** A dead letter keeps the head of a long entry only, with the entry's full size beside it. */
function isOurs(letter: DeadLetterSeen, entry: string): boolean {
  return letter.bytes === undefined ? letter.raw === entry : letter.bytes === Buffer.byteLength(entry) && entry.startsWith(letter.raw);
}

interface DeadLetterSeen {
  readonly raw: string;
  readonly reason: string;
  readonly bytes: number | undefined;
}

function readDeadLetter(text: string): DeadLetterSeen | null {
  try {
    const letter = JSON.parse(text) as { raw?: unknown; reason?: unknown; bytes?: unknown };
    if (typeof letter.raw !== 'string' || typeof letter.reason !== 'string') return null;
    return { raw: letter.raw, reason: letter.reason, bytes: typeof letter.bytes === 'number' ? letter.bytes : undefined };
  } catch {
    return null;
  }
}
