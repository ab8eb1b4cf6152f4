import { LIFECYCLE_STATES, WORKLOAD_TYPES, type EndReason, type LifecycleState } from '../../machines/index.js';
import type { TransitionMessage, WorkloadStatus } from '../events/transition.js';
import { MAX_ID_LENGTH } from '../spec/index.js';

/**
 * `leasehold inspect` believes what arrives on NATS only after this check: anyone who can publish
 * on `workloads.>` (or answer `leasehold.status.*`) writes what it is fed. Fields the page draws
 * as structure (id, type, states, reason) must be one of the known values or the message is
 * dropped; free text (event, error, waiting, logs) is cut to a bounded length; numbers must be
 * numbers. The page escapes everything anyway: this keeps the model honest and bounded.
 */

const END_REASONS_SET: Record<EndReason, true> = {
  completed: true,
  failed: true,
  leaseExpired: true,
  cancelled: true,
  deadline: true,
  lost: true,
  rejected: true,
  provisionTimeout: true,
};
const END_REASONS = Object.keys(END_REASONS_SET) as EndReason[];
const ID = new RegExp(`^[a-z0-9](?:[-a-z0-9]{0,${MAX_ID_LENGTH - 2}}[a-z0-9])?$`);
/** ISO 8601 as `Date.prototype.toISOString` writes it, which is what the control plane sends. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

export const MAX_EVENT_LENGTH = 100;
export const MAX_ERROR_LENGTH = 2_000;
/** The tail of a workload's logs the inspector shows. */
export const MAX_LOGS_LENGTH = 64 * 1024;

export type Shaped<T> = { ok: true; value: T } | { ok: false; why: string };

/** `subject` is where it arrived: a message must name the workload and state of its own subject. */
export function shapeTransition(raw: unknown, subject?: string): Shaped<TransitionMessage> {
  if (!isRecord(raw)) return no('not a JSON object');
  const id = raw['id'];
  if (typeof id !== 'string' || !ID.test(id)) return no('id is not a workload id');
  const type = oneOf(raw['type'], WORKLOAD_TYPES);
  if (!type) return no('type is not trusted or untrusted');
  const to = oneOf(raw['to'], LIFECYCLE_STATES);
  if (!to) return no('to is not a lifecycle state');
  const from = raw['from'] === null || raw['from'] === undefined ? null : oneOf(raw['from'], LIFECYCLE_STATES);
  if (from === undefined) return no('from is not a lifecycle state');
  if (subject !== undefined && subject !== `workloads.${id}.${to}`) return no('the subject does not match its id and state');
  const seq = raw['seq'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return no('seq is not a positive integer');
  const at = time(raw['at']);
  if (!at) return no('at is not an ISO 8601 time');
  const reason = raw['reason'] === undefined ? undefined : oneOf(raw['reason'], END_REASONS);
  if (raw['reason'] !== undefined && !reason) return no('reason is not a known end reason');
  const message: TransitionMessage = {
    id,
    type,
    from,
    to,
    event: text(raw['event'], MAX_EVENT_LENGTH) ?? '',
    at,
    seq,
    ...(reason ? { reason } : {}),
    ...optionalExitCode(raw['exitCode']),
    ...optionalText('error', raw['error'], MAX_ERROR_LENGTH),
  };
  return { ok: true, value: message };
}

/** A status reply, held to the same shape; a reply about another workload is not believed. */
export function shapeStatus(raw: unknown, id: string): WorkloadStatus | null {
  if (!isRecord(raw) || raw['id'] !== id) return null;
  const type = oneOf(raw['type'], WORKLOAD_TYPES);
  const state = oneOf(raw['state'], LIFECYCLE_STATES);
  const seq = raw['seq'];
  if (!type || !state || typeof seq !== 'number' || !Number.isSafeInteger(seq)) return null;
  const reason = oneOf(raw['reason'], END_REASONS);
  const timings: Partial<Record<LifecycleState, string>> = {};
  if (isRecord(raw['timings'])) {
    for (const s of LIFECYCLE_STATES) {
      const at = time(raw['timings'][s]);
      if (at) timings[s] = at;
    }
  }
  return {
    id,
    type,
    state,
    seq,
    timings,
    ...(reason ? { reason } : {}),
    ...optionalExitCode(raw['exitCode']),
    ...optionalText('error', raw['error'], MAX_ERROR_LENGTH),
    ...optionalText('waiting', raw['waiting'], MAX_ERROR_LENGTH),
  };
}

/** Logs as the page shows them: a string, its last `MAX_LOGS_LENGTH` characters. */
export function shapeLogs(raw: unknown): string | null {
  if (!isRecord(raw) || typeof raw['logs'] !== 'string') return null;
  const logs = raw['logs'];
  return logs.length > MAX_LOGS_LENGTH ? logs.slice(-MAX_LOGS_LENGTH) : logs;
}

function no(why: string): Shaped<never> {
  return { ok: false, why };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | undefined {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}

function time(value: unknown): string | undefined {
  if (typeof value !== 'string' || !ISO_TIME.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function text(value: unknown, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  if (s === undefined) return undefined;
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function optionalText<K extends string>(key: K, value: unknown, max: number): Partial<Record<K, string>> {
  const s = text(value, max);
  return s === undefined ? {} : ({ [key]: s } as Record<K, string>);
}

/** Exit codes are small integers (negative ones are signals on some runtimes); anything else is dropped. */
function optionalExitCode(value: unknown): { exitCode?: number } {
  const n = typeof value === 'string' && /^-?\d{1,10}$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && Math.abs(n) <= 2 ** 31 ? { exitCode: n } : {};
}
