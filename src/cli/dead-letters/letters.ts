import type { Redis } from 'ioredis';
import type { Keys } from '../../keys.js';
import { loadLua } from '../../lua.js';
import type { DeadLetter } from '../../queue/intake.js';
import { parseSubmission } from '../../spec/index.js';

const RETRY = loadLua(import.meta.url, 'retry.lua');

/** One entry of the dead-letter list as read: its position (1 is the oldest), the stored JSON, and what it says. */
export interface ListedLetter {
  readonly n: number;
  /** Exactly as stored: what the retry script removes. */
  readonly stored: string;
  /** Null when the entry is not a dead letter Leasehold wrote (anyone with Redis access can push one). */
  readonly letter: DeadLetter | null;
}

function decode(stored: string): DeadLetter | null {
  try {
    const value = JSON.parse(stored) as Partial<DeadLetter> | null;
    if (typeof value?.raw !== 'string' || typeof value.reason !== 'string' || typeof value.at !== 'string') return null;
    return { raw: value.raw, reason: value.reason, at: value.at, ...(typeof value.bytes === 'number' ? { bytes: value.bytes } : {}) };
  } catch {
    return null;
  }
}

export async function listLetters(redis: Redis, keys: Keys): Promise<ListedLetter[]> {
  const stored = await redis.lrange(keys.dead, 0, -1);
  return stored.map((s, i) => ({ n: i + 1, stored: s, letter: decode(s) }));
}

export async function letterAt(redis: Redis, keys: Keys, n: number): Promise<ListedLetter | null> {
  if (!Number.isInteger(n) || n < 1) return null;
  const stored = await redis.lindex(keys.dead, n - 1);
  return stored === null ? null : { n, stored, letter: decode(stored) };
}

/** The workload id a payload names, when it names one: enough to tell whose letter it is. */
export function idOf(raw: string): string | null {
  try {
    const id = (JSON.parse(raw) as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? id : null;
  } catch {
    const match = /"id"\s*:\s*"([^"\\]{1,63})"/.exec(raw);
    return match?.[1] ?? null;
  }
}

/**
 * Why a letter cannot be retried as it is, or null when it can. Pushing it back would only have
 * it dead-lettered again, so the CLI says why instead and how to fix it.
 */
export async function whyNotRetryable(redis: Redis, keys: Keys, entry: ListedLetter): Promise<string | null> {
  const { letter } = entry;
  if (!letter) return 'it is not a dead letter Leasehold wrote (not JSON with raw, reason and at)';
  if (letter.bytes !== undefined) return `only the first ${Buffer.byteLength(letter.raw)} of its ${letter.bytes} bytes were kept; the payload itself is gone`;
  const parsed = parseSubmission(letter.raw);
  if (!parsed.ok) return `it would be refused again: ${parsed.reason}`;
  if (await redis.exists(keys.workload(parsed.spec.id))) return `the id ${parsed.spec.id} is still taken (a workload with it is on record)`;
  return null;
}

/** Removes each letter and pushes its payload, atomically; true for each one that was still there. */
export async function retryLetters(redis: Redis, keys: Keys, entries: readonly ListedLetter[]): Promise<boolean[]> {
  if (entries.length === 0) return [];
  const args = entries.flatMap((e) => [e.stored, e.letter!.raw]);
  const done = (await redis.eval(RETRY, 2, keys.dead, keys.queue, ...args)) as number[];
  return done.map((d) => d === 1);
}
