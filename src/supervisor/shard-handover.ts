import type { ShardGrant } from '../ownership/ownership.js';
import type { AdmissionPump } from './admission-pump.js';
import type { HeldGrants } from './held-grants.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { SnapshotStore } from './ports.js';
import type { PublishQueue } from './publish-queue.js';
import type { RuntimeEffects } from './runtime-effects.js';
import { persisted } from './snapshots.js';
import type { WorkloadEntry, WorkloadRegistry } from './workload-registry.js';

export interface ShardHandoverDeps {
  readonly store: Pick<SnapshotStore, 'save' | 'whenDurable' | 'drop'>;
  readonly grants: Pick<HeldGrants, 'release' | 'end'>;
  readonly workloads: Pick<WorkloadRegistry, 'ofGrant' | 'remove'>;
  readonly publishes: Pick<PublishQueue, 'dropGrant' | 'settled'>;
  readonly leases: Pick<LeaseKeeper, 'forget'>;
  readonly admission: Pick<AdmissionPump, 'release' | 'pumpAll' | 'notifyCapacity'>;
  readonly effects: Pick<RuntimeEffects, 'stopLocal'>;
}

/**
 * Lets go of a shard's workloads: handed over gracefully (persisted first, so that the next owner
 * restores each where it was), or lost (fenced: nothing more is written or published for them).
 * Either way their actors stop here and their local processes are ended.
 */
export class ShardHandover {
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
  lose(grant: ShardGrant): void {
    this.deps.grants.end(grant);
    const entries = this.deps.workloads.ofGrant(grant);
    for (const entry of entries) {
      entry.subscription?.unsubscribe();
      entry.subscription = null;
    }
    this.deps.store.drop(grant);
    this.deps.publishes.dropGrant(grant);
    void this.forget(entries);
  }

  private async persistAndForget(grant: ShardGrant): Promise<void> {
    const entries = this.deps.workloads.ofGrant(grant);
    for (const entry of entries) {
      entry.subscription?.unsubscribe();
      entry.subscription = null;
      if (entry.state) this.deps.store.save(entry.spec.id, grant, () => persisted(entry.actor));
    }
    await this.deps.store.whenDurable();
    // What was saved is published before the shard goes: the next owner continues from the
    // saved state and would never publish those transitions itself.
    await this.deps.publishes.settled();
    await this.forget(entries);
  }

  /** Stops the actors and frees what they held here; resolves once their local processes are stopped. */
  private async forget(entries: WorkloadEntry[]): Promise<void> {
    const { admission } = this.deps;
    const ending: Promise<void>[] = [];
    for (const entry of entries) {
      const { id } = entry.spec;
      entry.actor.stop();
      this.deps.workloads.remove(id);
      this.deps.leases.forget(id);
      admission.release(entry);
      const stopped = this.deps.effects.stopLocal(entry);
      if (stopped) ending.push(stopped);
    }
    admission.pumpAll();
    admission.notifyCapacity();
    await Promise.all(ending);
  }
}
