import type { LossReason, ShardGrant } from '../ownership/ownership.js';
import type { AdmissionPump } from './admission-pump.js';
import type { HeldGrants } from './held-grants.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { SnapshotStore } from './ports.js';
import type { PublishQueue } from './publish-queue.js';
import type { RuntimeEffects } from './runtime-effects.js';
import { persisted } from './snapshots.js';
import type { WorkloadSpawner } from './workload-spawner.js';
import type { WorkloadEntry, WorkloadRegistry } from './workload-registry.js';

export interface ShardHandoverDeps {
  readonly store: Pick<SnapshotStore, 'save' | 'whenDurable' | 'drop' | 'load'>;
  readonly grants: Pick<HeldGrants, 'release' | 'end'>;
  readonly workloads: Pick<WorkloadRegistry, 'ofGrant' | 'remove'>;
  readonly publishes: Pick<PublishQueue, 'dropGrant' | 'settled'>;
  readonly leases: Pick<LeaseKeeper, 'forget'>;
  readonly admission: Pick<AdmissionPump, 'release' | 'pumpAll' | 'notifyCapacity'>;
  readonly effects: Pick<RuntimeEffects, 'stopLocal' | 'isLocal'>;
  readonly actors: Pick<WorkloadSpawner, 'stop'>;
}

/** What settling parked processes asks of ownership. */
export interface ParkedOwnership {
  readonly replicaId: string;
  epochOf(shard: number): number | undefined;
  ownerOf(shard: number): Promise<{ readonly replicaId: string } | null>;
}

/**
 * Lets go of a shard's workloads: handed over gracefully (persisted first, so that the next owner
 * restores each where it was), or lost (fenced: nothing more is written or published for them).
 * Either way their actors stop here and their local processes are ended.
 */
export class ShardHandover {
  /** By shard: local processes of a grant this replica fenced itself out of, still running. */
  private readonly parked = new Map<number, WorkloadEntry[]>();

  constructor(private readonly deps: ShardHandoverDeps) {}

  /**
   * Graceful handover: stop admitting the shard's workloads, persist every one (fenced), stop
   * their actors, and end the local processes among them (no other replica can adopt those).
   * Nothing is published: the next owner restores each workload where it was persisted.
   */
  async release(grant: ShardGrant): Promise<void> {
    await this.deps.grants.release(grant, () => this.persistAndForget(grant));
  }

  /**
   * Fenced: the shard is another replica's now (or will be before we could write again). Stops its
   * actors at once, writes and publishes nothing more for it, and stops local processes.
   */
  lose(grant: ShardGrant, reason: LossReason = 'refused'): void {
    this.deps.grants.end(grant);
    const entries = this.deps.workloads.ofGrant(grant);
    for (const entry of entries) {
      entry.detached = true;
    }
    this.deps.store.drop(grant);
    this.deps.publishes.dropGrant(grant);
    void this.forget(entries, reason === 'expired' ? grant.shard : null);
  }

  /**
   * Settles the local processes parked by a self-fence: ended once another replica owns their
   * shard (it reports them lost), handed back to restore once this replica holds the shard again
   * (reconciliation adopts its own children), left running while nobody holds it.
   */
  async settleParked(ownership: ParkedOwnership): Promise<void> {
    for (const [shard, entries] of this.parked) {
      if (ownership.epochOf(shard) !== undefined) {
        // Ours again. Restore adopts what Redis still says this replica drives; what another
        // replica ended meanwhile (as lost) is nobody's now, and is ended here.
        this.parked.delete(shard);
        const orphaned = await Promise.all(
          entries.map(async (entry) => {
            const stored = await this.deps.store.load(entry.spec.id).catch(() => null);
            return stored && stored.state !== 'tornDown' && stored.replica === ownership.replicaId ? null : entry;
          }),
        );
        await this.stopAll(orphaned.filter((entry): entry is WorkloadEntry => entry !== null));
        continue;
      }
      const owner = await ownership.ownerOf(shard).catch(() => null);
      if (!owner || owner.replicaId === ownership.replicaId || this.parked.get(shard) !== entries) continue;
      this.parked.delete(shard);
      await this.stopAll(entries);
    }
  }

  /** At a stop, nothing may be left running unowned: every parked process is ended. */
  async stopParked(): Promise<void> {
    const entries = [...this.parked.values()].flat();
    this.parked.clear();
    await this.stopAll(entries);
  }

  private async stopAll(entries: readonly WorkloadEntry[]): Promise<void> {
    await Promise.all(entries.flatMap((entry) => this.deps.effects.stopLocal(entry) ?? []));
  }

  private async persistAndForget(grant: ShardGrant): Promise<void> {
    const entries = this.deps.workloads.ofGrant(grant);
    for (const entry of entries) {
      entry.detached = true;
      if (entry.state) this.deps.store.save(entry.spec.id, grant, () => persisted(entry.actor));
    }
    await this.deps.store.whenDurable();
    // What was saved is published before the shard goes: the next owner continues from the
    // saved state and would never publish those transitions itself.
    await this.deps.publishes.settled();
    await this.forget(entries);
  }

  /**
   * Stops the actors and frees what they held here; resolves once their local processes are
   * stopped. With `parkIn` (a self-fence: this replica could not renew, but nobody else may hold
   * the shard yet), local processes are left running until `settleParked` knows who holds it: a
   * Redis stall shared by every replica had ended every running local workload `lost`, although
   * each replica took its own shards back a moment later.
   */
  private async forget(entries: WorkloadEntry[], parkIn: number | null = null): Promise<void> {
    const { admission } = this.deps;
    const ending: Promise<void>[] = [];
    const parked: WorkloadEntry[] = [];
    for (const entry of entries) {
      const { id } = entry.spec;
      this.deps.actors.stop(entry);
      this.deps.workloads.remove(id);
      this.deps.leases.forget(id);
      admission.release(entry);
      if (parkIn !== null && this.deps.effects.isLocal(entry)) {
        parked.push(entry);
        continue;
      }
      const stopped = this.deps.effects.stopLocal(entry);
      if (stopped) ending.push(stopped);
    }
    if (parkIn !== null && parked.length > 0) this.parked.set(parkIn, [...(this.parked.get(parkIn) ?? []), ...parked]);
    admission.pumpAll();
    admission.notifyCapacity();
    await Promise.all(ending);
  }
}
