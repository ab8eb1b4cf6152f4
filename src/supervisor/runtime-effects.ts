import { describeError, isTransient, retryAfterMs } from '../../machines/index.js';
import type { Logger } from '../log.js';
import type { HeldGrants } from './held-grants.js';
import type { HeartbeatEndpoint, SnapshotStore } from './ports.js';
import type { WorkloadEntry, WorkloadRegistry } from './workload-registry.js';

export interface RuntimeEffectsDeps {
  readonly store: Pick<SnapshotStore, 'whenDurable'>;
  readonly grants: Pick<HeldGrants, 'whileInDoubt'>;
  readonly workloads: Pick<WorkloadRegistry, 'get'>;
  readonly heartbeat: HeartbeatEndpoint | null;
  /** This replica, named on what a runtime leaves behind (a Pod's labels and annotation). */
  readonly replicaId?: string;
  /** A runtime call failed (counted by runtime name for metrics). */
  readonly runtimeError: (runtime: string) => void;
  readonly log: Logger;
}

/**
 * The machine's `provision` and `teardown` actions, carried out on the workload's runtime with
 * the outcome sent back to its actor. One runtime call per workload at a time: each waits for the
 * one in flight (`entry.inflight`), so a teardown never overtakes the provision before it.
 */
export class RuntimeEffects {
  /** Local processes of a shard let go of, still being stopped: a new owner here waits for them. */
  private readonly stopping = new Map<string, Promise<void>>();

  constructor(private readonly deps: RuntimeEffectsDeps) {}

  /** The `provision` effect: on record first, then the runtime; the outcome goes back to the actor. */
  provision(id: string): void {
    const entry = this.deps.workloads.get(id);
    if (!entry) return;
    const { actor } = entry;
    const inflight: Promise<void> = (async () => {
      // A crash must never be followed by a restart that believes this workload is still queued.
      await this.deps.store.whenDurable();
      // Fenced meanwhile: the next owner provisions it (exactly once), not this replica.
      if (!(await this.deps.grants.whileInDoubt(entry.grant)) || this.deps.workloads.get(id) !== entry) return null;
      if (!entry.runtime) throw new Error(`workload ${id} has no runtime`);
      const { shard, epoch } = entry.grant;
      const owner = this.deps.replicaId === undefined ? {} : { owner: { replica: this.deps.replicaId, shard, epoch } };
      return entry.runtime.provision(id, entry.spec, { env: this.heartbeatEnv(entry), ...owner });
    })().then(
      (result) => {
        letGo(entry, inflight);
        if (result) actor.send({ type: 'runtime.provisioned', result });
      },
      (error: unknown) => {
        letGo(entry, inflight);
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
    entry.inflight = inflight;
  }

  /**
   * The `teardown` effect, after whatever runtime call is still in flight for this workload, and
   * only once its end is on record: a replica fenced before its `expiring` save landed had deleted
   * the Pod anyway, and the next owner, restoring a workload Redis still called running, found no
   * Pod and ended it `lost` (the rolling-restart test caught it under load). Fenced meanwhile, it
   * leaves the teardown to the next owner, which reconciles and tears down itself.
   */
  teardown(id: string): void {
    const entry = this.deps.workloads.get(id);
    if (!entry) return;
    const { actor } = entry;
    const inflight: Promise<void> = (entry.inflight ?? Promise.resolve())
      .then(async () => {
        await this.deps.store.whenDurable();
        if (!(await this.deps.grants.whileInDoubt(entry.grant)) || this.deps.workloads.get(id) !== entry) return false;
        await entry.runtime?.teardown(id);
        return true;
      })
      .then(
        (done) => {
          letGo(entry, inflight);
          if (done) actor.send({ type: 'runtime.tornDown' });
        },
        (error: unknown) => {
          letGo(entry, inflight);
          this.countRuntimeError(entry);
          const wait = retryAfterMs(error);
          actor.send({ type: 'runtime.teardownFailed', error: describeError(error), ...(wait !== undefined ? { retryAfterMs: wait } : {}) });
        },
      );
    entry.inflight = inflight;
  }

  /**
   * Local processes cannot be adopted by another replica: a shard handed over (or lost) ends them
   * here, after the runtime call in flight, so none is left running unowned; its next owner finds
   * them gone, `lost`. Resolves once stopped (failures are logged); null when there is nothing to stop.
   */
  stopLocal(entry: WorkloadEntry): Promise<void> | null {
    const { id } = entry.spec;
    const runtime = entry.runtime;
    if (!runtime || !this.isLocal(entry)) return null;
    const stopped = (entry.inflight ?? Promise.resolve())
      .then(() => runtime.teardown(id))
      .catch((error: unknown) => this.deps.log.error({ err: error, workload: id }, 'could not stop a local workload of a shard handed over'))
      .finally(() => {
        if (this.stopping.get(id) === stopped) this.stopping.delete(id);
      });
    this.stopping.set(id, stopped);
    return stopped;
  }

  /** A process this replica started and only it can stop (not a Pod), that may be running. */
  isLocal(entry: WorkloadEntry): boolean {
    if (!entry.runtime || entry.runtime.adoptable === true) return false;
    return entry.state !== null && entry.state !== 'queued' && entry.state !== 'tornDown';
  }

  /** The stop of a local process of `id` still under way (see stopLocal), if any. */
  stoppingOf(id: string): Promise<void> | undefined {
    return this.stopping.get(id);
  }

  private countRuntimeError(entry: WorkloadEntry): void {
    this.deps.runtimeError(entry.runtime?.name ?? 'none');
  }

  private heartbeatEnv({ spec, run }: WorkloadEntry): Record<string, string> {
    return spec.heartbeat === 'self' && this.deps.heartbeat ? this.deps.heartbeat.envFor(spec.id, run) : {};
  }
}

/**
 * The runtime call `inflight` has settled: the workload no longer holds it, unless a later call
 * took its place. A running workload would otherwise keep its finished provision, one promise per
 * live workload. Called from the call's own handlers, so settling costs no promise of its own.
 */
function letGo(entry: WorkloadEntry, inflight: Promise<void>): void {
  if (entry.inflight === inflight) entry.inflight = null;
}
