import { createActor, fromTransition, type AnyActorRef } from 'xstate';
import { restorable, type LifecyclePolicy, type LifecycleState, type WorkloadContext, type WorkloadMachine } from '../../machines/index.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ShardGrant } from '../ownership/ownership.js';
import type { WorkloadSpec } from '../spec/index.js';
import type { AdmissionPump } from './admission-pump.js';
import type { RuntimeRouter } from './ports.js';
import type { WorkloadEntry, WorkloadRegistry } from './workload-registry.js';

/** Told of every change of a workload's top-level state (`from` null: its first). */
export type TransitionListener = (entry: WorkloadEntry, from: LifecycleState | null, to: LifecycleState, context: WorkloadContext) => void;

export interface WorkloadSpawnerDeps {
  /** The workload machine with its effects provided. */
  readonly machine: WorkloadMachine;
  readonly policy: Partial<LifecyclePolicy> | undefined;
  readonly clock: Clock;
  readonly workloads: Pick<WorkloadRegistry, 'add' | 'get'>;
  readonly router: Pick<RuntimeRouter, 'route'>;
  readonly admission: Pick<AdmissionPump, 'enqueue'>;
  readonly onTransition: TransitionListener;
  readonly log: Logger;
}

const STOP = 'workload.stop';

/**
 * Brings a workload to life here: its actor (new, or restored from a snapshot) and its runtime.
 *
 * Every workload actor is created as a child of one root actor, so that they all share its actor
 * system. A root actor of its own would give each workload a system of its own (maps, a
 * scheduler, a dozen closures): 1.8 KB more per live workload, and that much more garbage per
 * workload that ends. The root does nothing; it only hears that a workload actor finished.
 */
export class WorkloadSpawner {
  private readonly root: AnyActorRef;

  private readonly machine: WorkloadMachine;

  constructor(private readonly deps: WorkloadSpawnerDeps) {
    this.machine = deps.machine.provide({ actions: { announce: ({ context, self }) => this.announce(context, self) } });
    // A child actor cannot be stopped directly, only by its parent: the root stops the one it is
    // told to (and ignores the done events its children send it). The machine uses no XState
    // delays (retries go through the supervisor's scheduler); the clock is the injected one anyway.
    this.root = createActor(
      fromTransition((state: null, event: { type: string; actor?: AnyActorRef; error?: unknown }, { stopChild }) => {
        if (event.type === STOP && event.actor) stopChild(event.actor);
        // A workload actor whose action threw: it is stuck in error, which an operator must see.
        else if (event.type.startsWith('xstate.error.actor')) deps.log.error({ err: event.error, actor: event.type.slice('xstate.error.actor.'.length) }, 'workload actor failed');
        return state;
      }, null),
      { clock: deps.clock },
    ).start();
  }

  /** Stops the workload's actor: no more transitions, no delayed retry fires, and its system forgets it. */
  stop(entry: Pick<WorkloadEntry, 'actor'>): void {
    this.root.send({ type: STOP, actor: entry.actor });
  }

  /**
   * Starts the workload's actor, from `snapshot` when there is one, and registers it under
   * `grant`. Its top-level transitions go to `onTransition`, one at a time, as the machine enters
   * each state (its `announce` action): before the state's effect runs.
   */
  spawn(spec: WorkloadSpec, snapshot: unknown, run: string, grant: ShardGrant): WorkloadEntry {
    const { policy } = this.deps;
    const actor = createActor(this.machine, {
      input: { spec, ...(policy ? { policy } : {}) },
      // Named after the workload: an error the root logs says whose.
      id: spec.id,
      parent: this.root,
      ...(snapshot ? { snapshot: restorable(snapshot as { value?: unknown }) as never } : {}),
    });
    const restoredPhase = snapshot ? ((snapshot as { context: WorkloadContext }).context.phase ?? null) : null;
    const entry: WorkloadEntry = {
      spec,
      grant,
      run,
      actor,
      runtime: null,
      state: restoredPhase,
      admitted: false,
      detached: false,
      inflight: null,
    };
    this.deps.workloads.add(entry);
    actor.start();
    return entry;
  }

  private announce(context: WorkloadContext, self: AnyActorRef): void {
    const entry = this.deps.workloads.get(context.id);
    if (!entry || entry.actor !== self || entry.detached) return;
    const phase = context.phase;
    if (phase !== null && phase !== entry.state) this.deps.onTransition(entry, entry.state, phase, context);
  }

  /** Picks the runtime and queues the workload for admission; one that has none is rejected at once, with the reason. */
  route(entry: WorkloadEntry): void {
    const routed = this.deps.router.route(entry.spec);
    if ('rejection' in routed) {
      entry.actor.send({ type: 'workload.reject', reason: routed.rejection });
      return;
    }
    entry.runtime = routed.runtime;
    this.deps.admission.enqueue(entry);
  }
}
