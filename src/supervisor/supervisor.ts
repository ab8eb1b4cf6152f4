import { createWorkloadMachine, type LifecyclePolicy, type LifecycleState, type WorkloadType } from '../../machines/index.js';
import type { Clock } from '../clock.js';
import type { ExecRoute, TransitionPublisher, WorkloadStatus } from '../events/transition.js';
import type { Logger } from '../log.js';
import type { LossReason, ShardGrant } from '../ownership/ownership.js';
import type { RuntimeEvent } from '../runtime/runtime.js';
import type { WorkloadSpec } from '../spec/index.js';
import { AdmissionPump } from './admission-pump.js';
import { ControlQueries, localWorkloads, type CancelReply, type QueryOptions } from './control-queries.js';
import { HeldGrants } from './held-grants.js';
import { LeaseKeeper } from './lease-keeper.js';
import { LeaseSignals } from './lease-signals.js';
import { OrphanCollector } from './orphans.js';
import { PublishQueue } from './publish-queue.js';
import { RuntimeEffects } from './runtime-effects.js';
import { ShardHandover } from './shard-handover.js';
import { ShardRestore } from './shard-restore.js';
import { TransitionEffects } from './transition-effects.js';
import { WorkloadDeadlines } from './workload-deadlines.js';
import { WorkloadRegistry } from './workload-registry.js';
import { WorkloadSpawner } from './workload-spawner.js';
import type { HeartbeatEndpoint, LeaseStore, PeerForwarder, RuntimeRouter, SnapshotStore, SupervisorObserver, SupervisorOwnership } from './ports.js';
import { persisted } from './snapshots.js';

export interface SupervisorOptions {
  readonly maxConcurrent: Readonly<Record<WorkloadType, number>>;
  /** Workloads held but not yet admitted; past this, intake pauses (backpressure). */
  readonly maxPending: number;
  /** How long a finished workload's record is kept for status queries and duplicate detection. */
  readonly retentionSeconds: number;
  readonly policy?: Partial<LifecyclePolicy>;
  /** How often leases of running workloads are checked for renewal. */
  readonly renewTickMs: number;
}

export interface SupervisorDeps {
  readonly ownership: SupervisorOwnership;
  /** Forwards cancel and logs requests to the replica that owns the workload; null: one replica. */
  readonly peers?: PeerForwarder | null;
  readonly store: SnapshotStore;
  readonly leases: LeaseStore;
  readonly publisher: TransitionPublisher;
  readonly router: RuntimeRouter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly heartbeat?: HeartbeatEndpoint | null;
  readonly observers?: readonly SupervisorObserver[];
  readonly random?: () => number;
}

/**
 * The actor system: one XState actor per workload, each processing one event at a time. The
 * supervisor spawns and restores actors, admits them within per-type limits, routes runtime and
 * lease events to them, and turns every top-level transition into a publish, a persisted
 * snapshot and lease work — batched per tick, never awaited one by one on the hot path.
 *
 * This class only wires the parts together and is the surface the rest of the control plane
 * calls; each job is a module of its own:
 * - workload-registry: the workloads driven here, by id and by shard;
 * - workload-spawner: an actor started (new or restored) and routed to its runtime;
 * - admission-pump: per-type slots, and backpressure towards intake;
 * - transition-effects: what a transition causes (save, lease, deadline, end);
 * - publish-queue: a transition published after its own save is durable, under a grant still held;
 * - runtime-effects: provision and teardown, one runtime call at a time per workload;
 * - shard-restore / shard-handover: a shard's workloads taken up, handed over or lost;
 * - held-grants: what may still be done under a shard grant;
 * - workload-deadlines, lease-keeper, lease-signals, orphans, control-queries.
 */
export class Supervisor {
  private readonly entries = new WorkloadRegistry();
  private readonly admission: AdmissionPump;
  private readonly spawner: WorkloadSpawner;
  private readonly restore: ShardRestore;
  private readonly handover: ShardHandover;
  private parkTimer: unknown = null;
  private readonly publishes: PublishQueue;
  private readonly leases: LeaseKeeper;
  private readonly unwatch: (() => void)[] = [];
  private readonly observers: SupervisorObserver[];
  private readonly deadlines: WorkloadDeadlines;
  private readonly queries: ControlQueries;
  private readonly orphans: OrphanCollector;
  private readonly grants: HeldGrants;
  private readonly effects: RuntimeEffects;
  private readonly signals: LeaseSignals;

  constructor(
    options: SupervisorOptions,
    private readonly deps: SupervisorDeps,
  ) {
    this.admission = new AdmissionPump(options.maxConcurrent, options.maxPending, this.entries);
    this.observers = [...(deps.observers ?? [])];
    this.grants = new HeldGrants(deps.ownership, deps.clock);
    this.publishes = new PublishQueue(deps.store, deps.publisher, this.grants, deps.clock, deps.log);
    this.orphans = new OrphanCollector(deps.router, deps.store, (id) => this.entries.has(id), deps.clock, deps.log);
    this.effects = new RuntimeEffects({
      store: deps.store,
      grants: this.grants,
      workloads: this.entries,
      heartbeat: deps.heartbeat ?? null,
      replicaId: deps.ownership.replicaId,
      runtimeError: (runtime) => {
        for (const observer of this.observers) observer.runtimeError?.(runtime);
      },
      log: deps.log,
    });
    this.leases = new LeaseKeeper(deps.leases, deps.clock, options.renewTickMs, deps.log);
    this.deadlines = new WorkloadDeadlines(deps.clock, this.entries);
    this.signals = new LeaseSignals({
      workloads: this.entries,
      keeper: this.leases,
      store: deps.store,
      leases: deps.leases,
      observers: this.observers,
    });
    this.queries = new ControlQueries(localWorkloads(this.entries, (id) => this.leases.renew(id)), deps.store, deps.router, deps.ownership, deps.peers ?? null);
    const transitions = new TransitionEffects({
      retentionSeconds: options.retentionSeconds,
      clock: deps.clock,
      observers: this.observers,
      store: deps.store,
      publishes: this.publishes,
      leases: this.leases,
      deadlines: this.deadlines,
      workloads: this.entries,
      admission: this.admission,
      log: deps.log,
    });
    const { clock } = deps;
    const machine = createWorkloadMachine({ now: () => clock.now(), random: deps.random ?? Math.random }).provide({
      actions: {
        provision: ({ context }) => this.effects.provision(context.id),
        teardown: ({ context }) => this.effects.teardown(context.id),
        armRetry: ({ context }) => this.deadlines.armRetry(context.id, context),
      },
    });
    this.spawner = new WorkloadSpawner({
      machine,
      policy: options.policy,
      clock,
      workloads: this.entries,
      router: deps.router,
      admission: this.admission,
      onTransition: (entry, from, to, context) => transitions.apply(entry, from, to, context),
      log: deps.log,
    });
    this.restore = new ShardRestore({
      replicaId: deps.ownership.replicaId,
      retentionSeconds: options.retentionSeconds,
      store: deps.store,
      grants: this.grants,
      workloads: this.entries,
      spawner: this.spawner,
      router: deps.router,
      admission: this.admission,
      deadlines: this.deadlines,
      effects: this.effects,
      leases: this.leases,
      log: deps.log,
      clock: deps.clock,
      announce: (message, grant) => this.publishes.enqueue(message, grant),
    });
    this.handover = new ShardHandover({
      store: deps.store,
      grants: this.grants,
      workloads: this.entries,
      publishes: this.publishes,
      leases: this.leases,
      admission: this.admission,
      effects: this.effects,
      actors: this.spawner,
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /** How many more workloads intake may hand over now. */
  capacity(): number {
    return this.admission.capacity();
  }

  observe(observer: SupervisorObserver): void {
    this.observers.push(observer);
  }

  onCapacity(listener: () => void): void {
    this.admission.onCapacity(listener);
  }

  start(): void {
    for (const runtime of this.deps.router.all()) {
      this.unwatch.push(runtime.watch((id, event) => this.onRuntimeEvent(id, event)));
    }
    this.leases.start();
    this.settleParkedSoon();
  }

  /** Looks every second at local processes a self-fence left running (see ShardHandover). */
  private settleParkedSoon(): void {
    this.parkTimer = this.deps.clock.setTimeout(() => {
      void this.handover
        .settleParked(this.deps.ownership)
        .catch((error: unknown) => this.deps.log.warn({ err: error }, 'could not settle parked local workloads'))
        .finally(() => {
          if (this.parkTimer !== null) this.settleParkedSoon();
        });
    }, PARKED_CHECK_MS);
  }

  /**
   * New workloads from intake, already recorded durably (the run nonce with them) into a shard
   * this replica owned under `grant` at that moment. If it has lost the shard since, they are
   * left to the next owner, which finds them in the shard's active set.
   */
  accept(workloads: readonly { spec: WorkloadSpec; run: string }[], grant: ShardGrant): void {
    if (!this.grants.holds(grant)) return;
    for (const { spec, run } of workloads) {
      if (this.entries.has(spec.id)) continue;
      const entry = this.spawner.spawn(spec, null, run, grant);
      this.spawner.route(entry);
    }
    this.admission.pumpAll();
  }

  /**
   * The shard is ours now: restores its unfinished workloads and reconciles each with what its
   * runtime reports; resolves with how many it restored.
   */
  acquireShard(grant: ShardGrant): Promise<number> {
    return this.restore.acquire(grant);
  }

  /** Takes what other replicas recorded into the shard's inbox since the last look. */
  takeInbox(grant: ShardGrant): Promise<number> {
    return this.restore.takeInbox(grant);
  }

  /** Shards whose inbox was left with more than there was room for: drain them when slots free. */
  backloggedInboxes(): ReadonlySet<number> {
    return this.restore.backlogged;
  }

  /**
   * Graceful handover: stop admitting the shard's workloads, persist every one (fenced), stop
   * their actors, and end the local processes among them (no other replica can adopt those).
   * Nothing is published: the next owner restores each workload where it was persisted.
   */
  releaseShard(grant: ShardGrant): Promise<void> {
    return this.handover.release(grant);
  }

  /**
   * Fenced: the shard is another replica's now (or will be before we could write again). Stops its
   * actors at once, writes and publishes nothing more for it, and stops local processes.
   */
  loseShard(grant: ShardGrant, reason?: LossReason): void {
    this.handover.lose(grant, reason);
  }

  /**
   * Tears down what the runtimes hold that no workload claims: only what Redis says is finished
   * or absent (never what another replica drives), and only once it has been so for
   * `graceMs`, so that a record on its way (or a Redis hiccup) is never mistaken for an orphan.
   */
  collectOrphans(graceMs = 0): Promise<number> {
    return this.orphans.collect(graceMs);
  }

  /** The reaper found these leases lapsed. */
  onLeasesLapsed(ids: readonly string[]): void {
    this.signals.lapsed(ids);
  }

  /** The nonce of the live run of `id`, which its heartbeat token must be bound to; null if none. */
  runOf(id: string): Promise<string | null> {
    return this.signals.runOf(id);
  }

  /** A heartbeat from the workload itself, whichever replica it reached; false when it is not running. */
  heartbeat(id: string): Promise<boolean> {
    return this.signals.heartbeat(id);
  }

  /** Asks the workload's actor to end it; `state` is where it was when asked. Forwarded to its owner. */
  cancel(id: string, options?: QueryOptions): Promise<CancelReply> {
    return this.queries.cancel(id, options);
  }

  status(id: string): Promise<WorkloadStatus | null> {
    return this.queries.status(id);
  }

  logs(id: string, options?: QueryOptions): Promise<string | null> {
    return this.queries.logs(id, options);
  }

  /** Where an exec into `id` runs: here, at its owner (a peer), or nowhere, and why. */
  execRoute(id: string, options?: QueryOptions): Promise<ExecRoute> {
    return this.queries.execRoute(id, options);
  }

  /** Counts of live workloads by state and type, for metrics and the inspector. */
  counts(): Record<LifecycleState, Record<WorkloadType, number>> {
    return this.entries.counts();
  }

  /**
   * Stops every actor after writing its last snapshot. Nothing is torn down: workloads keep
   * running, and the next start reconciles them.
   */
  async stop(): Promise<void> {
    if (this.parkTimer !== null) this.deps.clock.clearTimeout(this.parkTimer);
    this.parkTimer = null;
    await this.handover.stopParked();
    this.leases.stop();
    this.deadlines.stop();
    for (const unwatch of this.unwatch.splice(0)) unwatch();
    for (const entry of this.entries.values()) {
      const { id } = entry.spec;
      entry.detached = true;
      const record = persisted(entry.actor);
      this.spawner.stop(entry);
      if (entry.state && this.grants.owns(entry.grant)) this.deps.store.save(id, entry.grant, () => record);
    }
    this.entries.clear();
    await this.deps.store.whenDurable();
  }

  private onRuntimeEvent(id: string, event: RuntimeEvent): void {
    this.entries.get(id)?.actor.send(event);
  }
}

/** How often local processes left running by a self-fence are looked at again. */
const PARKED_CHECK_MS = 1_000;
