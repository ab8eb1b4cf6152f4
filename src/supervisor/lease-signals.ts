import type { LeaseKeeper } from './lease-keeper.js';
import type { LeaseStore, SnapshotStore, SupervisorObserver } from './ports.js';
import type { WorkloadRegistry } from './workload-registry.js';

export interface LeaseSignalsDeps {
  readonly workloads: Pick<WorkloadRegistry, 'get'>;
  readonly keeper: Pick<LeaseKeeper, 'renew'>;
  readonly store: Pick<SnapshotStore, 'load'>;
  readonly leases: Pick<LeaseStore, 'renewKey'>;
  /** Read on every lapse: observers added later are told too. */
  readonly observers: readonly SupervisorObserver[];
}

/**
 * What arrives about leases from outside the actors: heartbeats, which may reach any replica
 * (the workload's owner or not), and lapses found by the reaper, which only the owner acts on.
 */
export class LeaseSignals {
  constructor(private readonly deps: LeaseSignalsDeps) {}

  /** The reaper found these leases lapsed: each actor decides what that means in its state. */
  lapsed(ids: readonly string[]): void {
    for (const id of ids) {
      const entry = this.deps.workloads.get(id);
      if (!entry) continue;
      if (entry.state === 'running') {
        for (const observer of this.deps.observers) observer.leaseExpired?.(id, entry.spec.type);
      }
      entry.actor.send({ type: 'lease.expired' });
    }
  }

  /**
   * The nonce of the live run of `id`, which its heartbeat token must be bound to; null if none.
   * Asked of Redis when another replica drives it: heartbeats may reach any replica.
   */
  async runOf(id: string): Promise<string | null> {
    const entry = this.deps.workloads.get(id);
    if (entry) return entry.run;
    const stored = await this.deps.store.load(id);
    return stored && stored.state !== 'tornDown' ? stored.run : null;
  }

  /**
   * A heartbeat from the workload itself (HTTP endpoint); false when it is not running. For a
   * workload another replica drives, the lease key is renewed in Redis directly (if Redis says it
   * runs), and its owner's reaper finds the renewal when the deadline comes.
   */
  async heartbeat(id: string): Promise<boolean> {
    const entry = this.deps.workloads.get(id);
    if (entry) return entry.state === 'running' && this.deps.keeper.renew(id);
    const stored = await this.deps.store.load(id);
    if (stored?.state !== 'running') return false;
    await this.deps.leases.renewKey(id, stored.spec.leaseSeconds * 1000);
    return true;
  }
}
