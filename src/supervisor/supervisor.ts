import { createActor, type Actor, type Subscription } from 'xstate';
import {
  LIFECYCLE_STATES,
  WORKLOAD_TYPES,
  createWorkloadMachine,
  describeError,
  isTransient,
  retryAfterMs,
  type LifecyclePolicy,
  type LifecycleState,
  type WorkloadContext,
  type WorkloadMachine,
  type WorkloadType,
} from '../../machines/index.js';
import type { Clock } from '../clock.js';
import type { TransitionMessage, TransitionPublisher, WorkloadStatus } from '../events/transition.js';
import type { Logger } from '../log.js';
import type { RuntimeEvent, WorkloadRuntime } from '../runtime/runtime.js';
import type { WorkloadSpec } from '../spec/index.js';
import { AdmissionQueue } from './admission.js';
import { DeadlineScheduler } from './deadlines.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { HeartbeatEndpoint, LeaseStore, RuntimeRouter, SnapshotStore, SupervisorObserver } from './ports.js';

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

type WorkloadActor = Actor<WorkloadMachine>;

interface Entry {
  readonly spec: WorkloadSpec;
  /** This run's nonce, from the workload's record; its heartbeat token is bound to it. */
  readonly run: string;
  readonly actor: WorkloadActor;
  runtime: WorkloadRuntime | null;
  state: LifecycleState | null;
  admitted: boolean;
  subscription: Subscription | null;
  /** The runtime call in flight, so that a teardown never overtakes the provision before it. */
  inflight: Promise<void> | null;
}

type DeadlineKind = 'timer.provisionTimeout' | 'timer.lifetime';

/**
 * The actor system: one XState actor per workload, each processing one event at a time. The
 * supervisor spawns and restores actors, admits them within per-type limits, routes runtime and
 * lease events to them, and turns every top-level transition into a publish, a persisted
 * snapshot and lease work — batched per tick, never awaited one by one on the hot path.
 */
export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private readonly admission: AdmissionQueue;
  private readonly machine: WorkloadMachine;
  private pendingPublishes: TransitionMessage[] = [];
  private readonly leases: LeaseKeeper;
  private readonly unwatch: (() => void)[] = [];
  private capacityListener: (() => void) | null = null;
  private readonly observers: SupervisorObserver[];
  private readonly deadlines: DeadlineScheduler<DeadlineKind>;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly deps: SupervisorDeps,
  ) {
    this.admission = new AdmissionQueue(options.maxConcurrent);
    this.observers = [...(deps.observers ?? [])];
    this.leases = new LeaseKeeper(deps.leases, deps.clock, options.renewTickMs, deps.log);
    this.deadlines = new DeadlineScheduler<DeadlineKind>(deps.clock, (id, type) => this.entries.get(id)?.actor.send({ type }));
    const { clock } = deps;
    this.machine = createWorkloadMachine({ now: () => clock.now(), random: deps.random ?? Math.random }).provide({
      actions: {
        provision: ({ context }) => this.provision(context.id),
        teardown: ({ context }) => this.teardown(context.id),
      },
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /** How many more workloads intake may hand over now. */
  capacity(): number {
    return this.options.maxPending - this.admission.waiting;
  }

  observe(observer: SupervisorObserver): void {
    this.observers.push(observer);
  }

  onCapacity(listener: () => void): void {
    this.capacityListener = listener;
  }

  start(): void {
    for (const runtime of this.deps.router.all()) {
      this.unwatch.push(runtime.watch((id, event) => this.onRuntimeEvent(id, event)));
    }
    this.leases.start();
  }

  /** New workloads from intake, already recorded durably (the run nonce with them). */
  accept(workloads: readonly { spec: WorkloadSpec; run: string }[]): void {
    for (const { spec, run } of workloads) {
      if (this.entries.has(spec.id)) continue;
      const entry = this.spawn(spec, null, run);
      this.route(entry);
    }
    this.pumpAll();
  }

  /**
   * Brings back every unfinished workload after a restart and reconciles it with what its runtime
   * reports; then tears down whatever the runtimes hold that no workload claims (orphans).
   */
  async restore(): Promise<{ restored: number; orphans: number }> {
    let restored = 0;
    const reconciling: Promise<void>[] = [];
    for await (const page of this.deps.store.loadActive()) {
      for (const stored of page) {
        if (this.entries.has(stored.id)) continue;
        const snapshot = stored.snapshot as { status?: string; children?: unknown; context?: WorkloadContext } | null;
        if (snapshot?.status === 'done' && snapshot.context) {
          this.deps.store.finish(stored.id, () => ({ state: 'tornDown', snapshot }), this.options.retentionSeconds);
          continue;
        }
        restored++;
        if (!snapshot?.context) {
          this.route(this.spawn(stored.spec, null, stored.run));
          continue;
        }
        // In-flight invocations are not resumed from a snapshot: reconciliation decides instead.
        const entry = this.spawn(stored.spec, { ...snapshot, children: {}, historyValue: {} }, stored.run);
        const phase = snapshot.context.phase;
        if (phase === 'queued' || phase === null) {
          this.route(entry);
          continue;
        }
        const routed = this.deps.router.route(stored.spec);
        entry.runtime = 'runtime' in routed ? routed.runtime : null;
        entry.admitted = true;
        this.admission.take(stored.spec.type);
        this.armDeadlines(entry, snapshot.context);
        reconciling.push(this.reconcile(entry));
      }
    }
    await Promise.all(reconciling);
    this.pumpAll();
    let orphans = 0;
    for (const runtime of this.deps.router.all()) {
      for (const id of await runtime.list()) {
        if (this.entries.has(id)) continue;
        orphans++;
        this.deps.log.warn({ workload: id, runtime: runtime.name }, 'tearing down an orphan no workload claims');
        await runtime.teardown(id).catch((error: unknown) => this.deps.log.error({ err: error, workload: id }, 'orphan teardown failed'));
      }
    }
    return { restored, orphans };
  }

  onLeasesLapsed(ids: readonly string[]): void {
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      if (entry.state === 'running') {
        for (const observer of this.observers) observer.leaseExpired?.(id, entry.spec.type);
      }
      entry.actor.send({ type: 'lease.expired' });
    }
  }

  /** The nonce of the live run of `id`, which its heartbeat token must be bound to; null if none. */
  runOf(id: string): string | null {
    return this.entries.get(id)?.run ?? null;
  }

  /** A heartbeat from the workload itself (HTTP endpoint); false when it is not running. */
  heartbeat(id: string): boolean {
    return this.entries.get(id)?.state === 'running' && this.leases.renew(id);
  }

  /** Asks the workload's actor to end it; `state` is where it was when asked. */
  async cancel(id: string): Promise<{ ok: boolean; state?: LifecycleState; error?: string }> {
    const entry = this.entries.get(id);
    if (!entry) {
      const stored = await this.deps.store.load(id);
      return { ok: false, error: stored ? `workload ${id} has already ended` : `no workload ${id}`, ...(stored ? { state: stored.state } : {}) };
    }
    const state = entry.state ?? 'queued';
    entry.actor.send({ type: 'workload.cancel' });
    return { ok: true, state };
  }

  async status(id: string): Promise<WorkloadStatus | null> {
    const entry = this.entries.get(id);
    if (entry) return toStatus(entry.actor.getSnapshot().context);
    const stored = await this.deps.store.load(id);
    if (!stored) return null;
    const context = (stored.snapshot as { context?: WorkloadContext } | null)?.context;
    if (context) return toStatus(context);
    return { id, type: stored.spec.type, state: stored.state, seq: 0, timings: {} };
  }

  async logs(id: string): Promise<string | null> {
    const entry = this.entries.get(id);
    if (entry?.runtime) return entry.runtime.logs(id);
    for (const runtime of this.deps.router.all()) {
      const text = await runtime.logs(id);
      if (text !== null) return text;
    }
    return null;
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

  /**
   * Stops every actor after writing its last snapshot. Nothing is torn down: workloads keep
   * running, and the next start reconciles them.
   */
  async stop(): Promise<void> {
    this.leases.stop();
    this.deadlines.stop();
    for (const unwatch of this.unwatch.splice(0)) unwatch();
    for (const [id, entry] of this.entries) {
      entry.subscription?.unsubscribe();
      const record = persisted(entry.actor);
      entry.actor.stop();
      if (entry.state) this.deps.store.save(id, () => record);
    }
    this.entries.clear();
    await this.deps.store.whenDurable();
  }

  private spawn(spec: WorkloadSpec, snapshot: unknown, run: string): Entry {
    const actor = createActor(this.machine, {
      input: { spec, ...(this.options.policy ? { policy: this.options.policy } : {}) },
      clock: this.deps.clock,
      ...(snapshot ? { snapshot: snapshot as never } : {}),
    });
    const restoredPhase = snapshot ? ((snapshot as { context: WorkloadContext }).context.phase ?? null) : null;
    const entry: Entry = {
      spec,
      run,
      actor,
      runtime: null,
      state: restoredPhase,
      admitted: false,
      subscription: null,
      inflight: null,
    };
    this.entries.set(spec.id, entry);
    entry.subscription = actor.subscribe({
      next: (snap) => {
        const phase = snap.context.phase;
        if (phase !== null && phase !== entry.state) this.onTransition(entry, entry.state, phase, snap.context);
      },
      error: (error) => this.deps.log.error({ err: error, workload: spec.id }, 'workload actor failed'),
    });
    actor.start();
    return entry;
  }

  /** Picks the runtime; a workload that has none is rejected at once, with the reason. */
  private route(entry: Entry): void {
    const routed = this.deps.router.route(entry.spec);
    if ('rejection' in routed) {
      entry.actor.send({ type: 'workload.reject', reason: routed.rejection });
      return;
    }
    entry.runtime = routed.runtime;
    this.admission.enqueue(entry.spec.type, entry.spec.id);
  }

  private async reconcile(entry: Entry): Promise<void> {
    const { id } = entry.spec;
    try {
      const observed = entry.runtime ? await entry.runtime.status(id) : ({ state: 'notFound' } as const);
      entry.actor.send({ type: 'workload.reconcile', observed });
      // Adopted. A runtime-renewed lease is renewed from now on; a self-heartbeater keeps the
      // lease it had, and lapses unless it beats.
      if (entry.state === 'running') this.holdLease(entry, entry.spec.heartbeat === 'runtime');
    } catch (error) {
      this.deps.log.error({ err: error, workload: id }, 'could not reconcile; treating the workload as lost');
      entry.actor.send({ type: 'runtime.lost', detail: `reconciliation failed: ${String(error)}` });
    }
  }

  private onTransition(entry: Entry, from: LifecycleState | null, to: LifecycleState, context: WorkloadContext): void {
    entry.state = to;
    const { id, type } = entry.spec;
    const at = context.timings[to] ?? this.deps.clock.now();
    const ending = to === 'expiring' || to === 'tornDown';
    const message: TransitionMessage = {
      id,
      type,
      from,
      to,
      event: context.lastEvent,
      ...(ending && context.reason ? { reason: context.reason } : {}),
      ...(ending && context.exitCode !== null ? { exitCode: context.exitCode } : {}),
      ...(ending && context.error ? { error: context.error } : {}),
      at: new Date(at).toISOString(),
      seq: context.seq,
    };
    for (const observer of this.observers) observer.transition?.(message, context.timings);

    this.armDeadlines(entry, context);
    if (to === 'running') {
      this.holdLease(entry);
      this.deps.log.info({ workload: id, type, runtime: entry.runtime?.name }, 'workload started');
    }
    if (from === 'running') {
      this.leases.release(id);
    }
    if (to === 'tornDown') {
      this.deps.store.finish(id, () => persisted(entry.actor), this.options.retentionSeconds);
      entry.subscription?.unsubscribe();
      this.entries.delete(id);
      if (entry.admitted) {
        this.admission.release(type);
        this.pump(type);
      }
      if (this.capacity() > 0) this.capacityListener?.();
      if (this.deadlines.size > 2 * this.entries.size + 1024) {
        this.deadlines.compact((deadlineId, kind) => {
          const phase = this.entries.get(deadlineId)?.state;
          return kind === 'timer.lifetime' ? phase === 'running' : phase === 'provisioning';
        });
      }
      // One line per workload that ended, with why: what an operator greps for first.
      const ended = { workload: id, type, reason: context.reason, exitCode: context.exitCode ?? undefined, error: context.error ?? undefined };
      if (context.reason === 'completed' || context.reason === 'cancelled') this.deps.log.info(ended, 'workload ended');
      else this.deps.log.warn(ended, 'workload ended');
    } else {
      this.deps.store.save(id, () => persisted(entry.actor));
    }
    this.queuePublish(message);
  }

  /**
   * Transitions are published only once their snapshot is in Redis, so that whatever a subscriber
   * has seen survives a crash: a restart never contradicts an event already delivered.
   */
  private queuePublish(message: TransitionMessage): void {
    this.pendingPublishes.push(message);
    if (this.pendingPublishes.length > 1) return;
    void this.deps.store.whenDurable().then(() => {
      const batch = this.pendingPublishes;
      this.pendingPublishes = [];
      for (const pending of batch) this.deps.publisher.publish(pending);
    });
  }

  /** The `provision` effect: on record first, then the runtime; the outcome goes back to the actor. */
  private provision(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    const { actor } = entry;
    entry.inflight = (async () => {
      // A crash must never be followed by a restart that believes this workload is still queued.
      await this.deps.store.whenDurable();
      if (!entry.runtime) throw new Error(`workload ${id} has no runtime`);
      return entry.runtime.provision(id, entry.spec, { env: this.heartbeatEnv(entry) });
    })().then(
      (result) => actor.send({ type: 'runtime.provisioned', result }),
      (error: unknown) => {
        this.countRuntimeError(entry);
        const wait = retryAfterMs(error);
        actor.send({
          type: 'runtime.provisionFailed',
          error: describeError(error),
          transient: isTransient(error),
          ...(wait !== undefined ? { retryAfterMs: wait } : {}),
        });
      },
    );
  }

  /** The `teardown` effect, after whatever runtime call is still in flight for this workload. */
  private teardown(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    const { actor } = entry;
    entry.inflight = (entry.inflight ?? Promise.resolve())
      .then(() => entry.runtime?.teardown(id))
      .then(
        () => actor.send({ type: 'runtime.tornDown' }),
        (error: unknown) => {
          this.countRuntimeError(entry);
          const wait = retryAfterMs(error);
          actor.send({ type: 'runtime.teardownFailed', error: describeError(error), ...(wait !== undefined ? { retryAfterMs: wait } : {}) });
        },
      );
  }

  private countRuntimeError(entry: Entry): void {
    for (const observer of this.observers) observer.runtimeError?.(entry.runtime?.name ?? 'none');
  }

  private armDeadlines(entry: Entry, context: WorkloadContext): void {
    const { id } = entry.spec;
    if (context.phase === 'provisioning' && context.provisionDeadlineAt !== null) {
      this.deadlines.add(id, 'timer.provisionTimeout', context.provisionDeadlineAt);
    } else if (context.phase === 'running' && context.lifetimeDeadlineAt !== null) {
      this.deadlines.add(id, 'timer.lifetime', context.lifetimeDeadlineAt);
    }
  }

  private onRuntimeEvent(id: string, event: RuntimeEvent): void {
    this.entries.get(id)?.actor.send(event);
  }

  private pumpAll(): void {
    for (const type of WORKLOAD_TYPES) this.pump(type);
  }

  private pump(type: WorkloadType): void {
    for (let id = this.admission.next(type); id !== null; id = this.admission.next(type)) {
      const entry = this.entries.get(id);
      if (!entry || entry.state !== 'queued') {
        this.admission.release(type); // cancelled while waiting: give the slot back
        continue;
      }
      entry.admitted = true;
      entry.actor.send({ type: 'workload.admit' });
    }
  }

  private heartbeatEnv({ spec, run }: Entry): Record<string, string> {
    return spec.heartbeat === 'self' && this.deps.heartbeat ? this.deps.heartbeat.envFor(spec.id, run) : {};
  }

  private holdLease(entry: Entry, grantNow = true): void {
    this.leases.hold(entry.spec.id, entry.spec.leaseSeconds * 1000, entry.spec.heartbeat === 'runtime', grantNow);
  }
}

/**
 * The actor's state in the shape `getPersistedSnapshot()` produces, minus its children: in-flight
 * invocations are never resumed from a snapshot (reconciliation decides instead), so persisting
 * them would only cost time. Cheaper than `getPersistedSnapshot()`, which deep-walks the context,
 * and half the size without the spec.
 */
function persisted(actor: WorkloadActor): { state: LifecycleState; snapshot: unknown } {
  const snapshot = actor.getSnapshot();
  return {
    state: snapshot.context.phase ?? 'queued',
    snapshot: {
      status: snapshot.status,
      value: snapshot.value,
      // The spec is stored once, beside the snapshot; the store puts it back on load.
      context: { ...snapshot.context, spec: undefined },
      historyValue: {},
      children: {},
      ...(snapshot.output ? { output: snapshot.output } : {}),
    },
  };
}

function toStatus(context: WorkloadContext): WorkloadStatus {
  const timings: Partial<Record<LifecycleState, string>> = {};
  for (const [state, at] of Object.entries(context.timings)) timings[state as LifecycleState] = new Date(at).toISOString();
  return {
    id: context.id,
    type: context.spec.type,
    state: context.phase ?? 'queued',
    seq: context.seq,
    ...(context.reason ? { reason: context.reason } : {}),
    ...(context.exitCode !== null ? { exitCode: context.exitCode } : {}),
    ...(context.error ? { error: context.error } : {}),
    ...(context.phase === 'provisioning' && context.waiting ? { waiting: context.waiting } : {}),
    timings,
  };
}
