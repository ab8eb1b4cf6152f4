import { z } from 'zod';
import { LIFECYCLE_STATES, WORKLOAD_TYPES, type LifecycleState, type WorkloadType } from '../../../machines/index.js';
import type { StoredRecord } from './read-workloads.js';

/**
 * One row of `leasehold list`, as data (`-o json|yaml`) and as the source of the table. Built
 * from what intake and the store wrote; the parts a listing does not need (env, cmd) are left out,
 * and so never printed: env may hold what a submitter would not show every operator.
 */
export interface ListedWorkload {
  readonly id: string;
  readonly type: WorkloadType;
  readonly state: LifecycleState;
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly shard: number;
  /** The replica that wrote the last snapshot (whose runtime holds the workload); null before the first. */
  readonly replica: string | null;
  /** Who holds the shard now; null while nobody does (its replica died and no peer took it yet). */
  readonly owner: string | null;
  /** When the control plane took it in (ISO 8601); null until its first snapshot is written. */
  readonly createdAt: string | null;
  /** When it was torn down (ISO 8601); null while it has not been. */
  readonly endedAt: string | null;
  /** Set once its end is decided (in `expiring`): why, and the exit code where there is one. */
  readonly reason: string | null;
  readonly exitCode: number | null;
  readonly error: string | null;
  /** While provisioning: why it is not running yet, as the runtime says. */
  readonly waiting: string | null;
}

/** Only what is read; a record written by a newer version, with more fields, still reads. */
const specSchema = z.looseObject({
  type: z.enum(WORKLOAD_TYPES),
  image: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
});

const snapshotSchema = z.looseObject({
  context: z
    .looseObject({
      timings: z.record(z.string(), z.number()).optional(),
      reason: z.string().nullish(),
      exitCode: z.number().nullish(),
      error: z.string().nullish(),
      waiting: z.string().nullish(),
    })
    .optional(),
});

function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The largest time a Date holds; beyond it `toISOString` throws. */
const MAX_DATE_MS = 8.64e15;

const isState = (s: string | null): s is LifecycleState => (LIFECYCLE_STATES as readonly (string | null)[]).includes(s);

/**
 * Null when the record cannot be read as a workload: it expired between SSCAN and HMGET (no
 * spec: it has finished, or was deleted), or something other than Leasehold wrote it.
 */
export function toListed(record: StoredRecord, owner: string | null): ListedWorkload | null {
  const spec = specSchema.safeParse(parseJson(record.spec));
  if (!spec.success || !isState(record.state)) return null;
  // A snapshot that does not read is shown without its details rather than not at all.
  const snapshot = snapshotSchema.safeParse(parseJson(record.snapshot ?? 'null'));
  const context = snapshot.success ? snapshot.data.context : undefined;
  const queuedAt = context?.timings?.queued;
  const endedAt = context?.timings?.tornDown;
  const iso = (ms: number | undefined) => (ms !== undefined && Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : null);
  return {
    id: record.id,
    type: spec.data.type,
    state: record.state,
    image: spec.data.image,
    labels: spec.data.labels ?? {},
    shard: record.shard,
    replica: record.replica || null,
    owner,
    createdAt: iso(queuedAt),
    endedAt: iso(endedAt),
    reason: context?.reason ?? null,
    exitCode: context?.exitCode ?? null,
    error: context?.error ?? null,
    waiting: context?.waiting ?? null,
  };
}
