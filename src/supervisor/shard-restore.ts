import type { ObservedStatus, WorkloadContext } from '../../machines/index.js';
import type { Clock } from '../clock.js';
import type { TransitionMessage } from '../events/transition.js';
import type { Logger } from '../log.js';
import type { ShardGrant } from '../ownership/ownership.js';
import type { AdmissionPump } from './admission-pump.js';
import type { HeldGrants } from './held-grants.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { RuntimeRouter, SnapshotStore, StoredWorkload } from './ports.js';
import type { RuntimeEffects } from './runtime-effects.js';
import type { WorkloadDeadlines } from './workload-deadlines.js';
import type { WorkloadEntry, WorkloadRegistry } from './workload-registry.js';
import type { WorkloadSpawner } from './workload-spawner.js';
import { previousState, transitionMessage } from './snapshots.js';

export interface ShardRestoreDeps {
  readonly replicaId: string;
  /** How long a finished workload's record is kept (a restored one that had ended is finished again). */
  readonly retentionSeconds: number;
  readonly store: Pick<SnapshotStore, 'drainInbox' | 'loadActive' | 'load' | 'finish'>;
  readonly grants: Pick<HeldGrants, 'holds' | 'stillHolds'>;
  readonly workloads: Pick<WorkloadRegistry, 'has'>;
  readonly spawner: Pick<WorkloadSpawner, 'spawn' | 'route'>;
  readonly router: Pick<RuntimeRouter, 'route'>;
  readonly admission: Pick<AdmissionPump, 'occupy' | 'pumpAll' | 'capacity'>;
  readonly deadlines: Pick<WorkloadDeadlines, 'arm'>;
  readonly effects: Pick<RuntimeEffects, 'stoppingOf'>;
  readonly leases: Pick<LeaseKeeper, 'holdFor'>;
  readonly log: Logger;
  readonly clock: Pick<Clock, 'now'>;
  /** Publishes a transition once durable, as every other (the publish queue). */
  announce(message: TransitionMessage, grant: ShardGrant): void;
}

/**
 * Takes up a shard's workloads here: when the shard is acquired (every unfinished workload, each
 * restored where it was persisted and reconciled with what its runtime reports), and when other
 * replicas record new ones into its inbox.
 */
export class ShardRestore {
  /** Shards whose inbox may hold more than there was room to take. */
  readonly backlogged = new Set<number>();

  constructor(private readonly deps: ShardRestoreDeps) {}

  /**
   * The shard is ours now: restores its unfinished workloads and reconciles each with what its
   * runtime reports. The inbox is emptied first, so that an entry recorded after that shows up in
   * the inbox again, and one recorded before is in the active set that is read next.
   */
  async acquire(grant: ShardGrant): Promise<number> {
    const { store, grants } = this.deps;
    await store.drainInbox(grant);
    let restored = 0;
    const reconciling: Promise<void>[] = [];
    for await (const page of store.loadActive(grant.shard)) {
      if (!(await grants.stillHolds(grant))) break;
      for (const stored of page) if (this.restoreOne(stored, grant, reconciling)) restored++;
    }
    await Promise.all(reconciling);
    this.deps.admission.pumpAll();
    return restored;
  }

  /** Takes what other replicas recorded into the shard's inbox since the last look. */
  async takeInbox(grant: ShardGrant): Promise<number> {
    const { store, grants } = this.deps;
    if (!grants.holds(grant)) return 0;
    // No more than there is room for: peers record whatever they pop into a hot shard's inbox,
    // and taking it all had an owner hold 298 queued workloads under --max-pending 20. The rest
    // waits in Redis, and the shard is remembered as backlogged: a freed slot drains it again.
    const room = this.deps.admission.capacity();
    if (room <= 0) {
      this.backlogged.add(grant.shard);
      return 0;
    }
    const ids = await store.drainInbox(grant, room);
    if (ids.length < room) this.backlogged.delete(grant.shard);
    else this.backlogged.add(grant.shard);
    let taken = 0;
    for (const id of ids) {
      if (this.deps.workloads.has(id)) continue;
      const stored = await store.load(id);
      if (!stored) continue;
      // Lost or handed over: the rest are in the shard's active set, where the next owner looks.
      if (!(await grants.stillHolds(grant))) break;
      if (this.restoreOne(stored, grant, [])) taken++;
    }
    if (taken > 0) this.deps.admission.pumpAll();
    return taken;
  }

  /** Spawns a stored workload where it was persisted; false if it needs no actor (finished, or already here). */
  private restoreOne(stored: StoredWorkload, grant: ShardGrant, reconciling: Promise<void>[]): boolean {
    const { spawner } = this.deps;
    if (this.deps.workloads.has(stored.id)) return false;
    const stopping = this.deps.effects.stoppingOf(stored.id);
    if (stopping) {
      // This replica is still stopping the process it ran under an earlier grant (the shard was
      // lost and came back): reconciling now would find it alive, adopt it, and then see it die.
      reconciling.push(
        stopping.then(async () => {
          const fresh = await this.deps.store.load(stored.id);
          if (fresh && (await this.deps.grants.stillHolds(grant)) && this.restoreOne(fresh, grant, reconciling)) this.deps.admission.pumpAll();
        }),
      );
      return true;
    }
    const snapshot = stored.snapshot as { status?: string; children?: unknown; context?: WorkloadContext } | null;
    if (snapshot?.status === 'done' && snapshot.context) {
      // Finished, and still among the unfinished: its end was saved but perhaps never published
      // (its owner died or was fenced in between). Announced now, so no watcher waits forever;
      // a watcher that saw it already drops the repeat by seq, and JetStream by Nats-Msg-Id.
      const { context } = snapshot;
      this.deps.store.finish(stored.id, grant, () => ({ state: 'tornDown', snapshot, seq: context.seq }), this.deps.retentionSeconds);
      this.deps.announce(transitionMessage(previousState(context), 'tornDown', context, grant, this.deps.clock.now()), grant);
      return false;
    }
    if (!snapshot?.context) {
      spawner.route(spawner.spawn(stored.spec, null, stored.run, grant));
      return true;
    }
    // In-flight invocations are not resumed from a snapshot: reconciliation decides instead.
    const entry = spawner.spawn(stored.spec, { ...snapshot, children: {}, historyValue: {} }, stored.run, grant);
    const phase = snapshot.context.phase;
    if (phase === 'queued' || phase === null) {
      spawner.route(entry);
      return true;
    }
    const routed = this.deps.router.route(stored.spec);
    entry.runtime = 'runtime' in routed ? routed.runtime : null;
    this.deps.admission.occupy(entry);
    this.deps.deadlines.arm(stored.id, snapshot.context);
    // A local process another replica started is not ours to find, stop or wait for: had we
    // asked our own runtime, "not found" would make us start it a second time.
    const foreign = stored.replica !== '' && stored.replica !== this.deps.replicaId && entry.runtime?.adoptable !== true;
    reconciling.push(this.reconcile(entry, foreign ? stored.replica : null));
    return true;
  }

  private async reconcile(entry: WorkloadEntry, startedBy: string | null): Promise<void> {
    const { id } = entry.spec;
    try {
      const observed: ObservedStatus = startedBy
        ? { state: 'exited', detail: `its local process belonged to replica ${startedBy}, which stopped; it cannot be adopted` }
        : entry.runtime
          ? await entry.runtime.status(id)
          : { state: 'notFound' };
      entry.actor.send({ type: 'workload.reconcile', observed });
      // Adopted. A runtime-renewed lease is renewed from now on; a self-heartbeater keeps the
      // lease it had, and lapses unless it beats.
      if (entry.state === 'running') this.deps.leases.holdFor(entry, entry.spec.heartbeat === 'runtime');
    } catch (error) {
      this.deps.log.error({ err: error, workload: id }, 'could not reconcile; treating the workload as lost');
      entry.actor.send({ type: 'runtime.lost', detail: `reconciliation failed: ${String(error)}` });
    }
  }
}
