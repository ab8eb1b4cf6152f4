import type { Actor } from 'xstate';
import { LIFECYCLE_STATES, type LifecycleState, type WorkloadMachine, type WorkloadType } from '../../machines/index.js';
import type { ShardGrant } from '../ownership/ownership.js';
import type { WorkloadRuntime } from '../runtime/runtime.js';
import type { WorkloadSpec } from '../spec/index.js';
import { sameGrant } from './held-grants.js';

/** One workload driven by this replica: its actor and what the supervisor tracks beside it. */
export interface WorkloadEntry {
  readonly spec: WorkloadSpec;
  /** The shard and epoch this replica drives the workload under; every write carries it. */
  readonly grant: ShardGrant;
  /** This run's nonce, from the workload's record; its heartbeat token is bound to it. */
  readonly run: string;
  readonly actor: Actor<WorkloadMachine>;
  runtime: WorkloadRuntime | null;
  /** The last top-level state seen (null: restored from a snapshot that had none yet). */
  state: LifecycleState | null;
  /** Holds an admission slot of its type, which must be given back when it leaves. */
  admitted: boolean;
  /** Let go of (handed over, fenced, stopping): its transitions are no longer acted upon here. */
  detached: boolean;
  /** The runtime call in flight, so that a teardown never overtakes the provision before it. */
  inflight: Promise<void> | null;
}

/** The workloads this replica drives, by id and by shard (a shard's are let go of together). */
export class WorkloadRegistry {
  private readonly entries = new Map<string, WorkloadEntry>();
  /** Per shard held, the ids of its workloads driven here. */
  private readonly byShard = new Map<number, Set<string>>();

  get size(): number {
    return this.entries.size;
  }

  get(id: string): WorkloadEntry | undefined {
    return this.entries.get(id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  add(entry: WorkloadEntry): void {
    this.entries.set(entry.spec.id, entry);
    let ids = this.byShard.get(entry.grant.shard);
    if (!ids) this.byShard.set(entry.grant.shard, (ids = new Set()));
    ids.add(entry.spec.id);
  }

  /** Forgets the workload driven here under `id` (whichever entry that is). */
  remove(id: string): void {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    if (!entry) return;
    const ids = this.byShard.get(entry.grant.shard);
    ids?.delete(id);
    if (ids?.size === 0) this.byShard.delete(entry.grant.shard);
  }

  /** The workloads driven here under exactly this grant (not those of an earlier epoch of the shard). */
  ofGrant(grant: ShardGrant): WorkloadEntry[] {
    const ids = this.byShard.get(grant.shard) ?? new Set<string>();
    return [...ids].flatMap((id) => {
      const entry = this.entries.get(id);
      return entry && sameGrant(entry.grant, grant) ? [entry] : [];
    });
  }

  values(): IterableIterator<WorkloadEntry> {
    return this.entries.values();
  }

  clear(): void {
    this.entries.clear();
    this.byShard.clear();
  }

  /** Counts of live workloads by state and type, for metrics and the inspector. */
  counts(): Record<LifecycleState, Record<WorkloadType, number>> {
    const counts = {} as Record<LifecycleState, Record<WorkloadType, number>>;
    for (const state of LIFECYCLE_STATES) {
      counts[state] = { trusted: 0, untrusted: 0 };
    }
    for (const entry of this.entries.values()) if (entry.state) counts[entry.state][entry.spec.type]++;
    return counts;
  }
}
