import type { LifecycleState, WorkloadContext } from '../../machines/index.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AdmissionPump } from './admission-pump.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { SnapshotStore, SupervisorObserver } from './ports.js';
import type { PublishQueue } from './publish-queue.js';
import { persisted, transitionMessage } from './snapshots.js';
import type { WorkloadDeadlines } from './workload-deadlines.js';
import type { WorkloadEntry, WorkloadRegistry } from './workload-registry.js';

export interface TransitionEffectsDeps {
  /** How long a finished workload's record is kept for status queries and duplicate detection. */
  readonly retentionSeconds: number;
  readonly clock: Clock;
  /** Read on every transition: observers added later are told too. */
  readonly observers: readonly SupervisorObserver[];
  readonly store: Pick<SnapshotStore, 'save' | 'finish'>;
  readonly publishes: Pick<PublishQueue, 'enqueue'>;
  readonly leases: Pick<LeaseKeeper, 'holdFor' | 'release'>;
  readonly deadlines: Pick<WorkloadDeadlines, 'arm' | 'compactIfStale'>;
  readonly workloads: Pick<WorkloadRegistry, 'remove'>;
  readonly admission: Pick<AdmissionPump, 'finished'>;
  readonly log: Logger;
}

/**
 * What one top-level transition of a workload causes: observers told, its deadline armed, its
 * lease held or released, its snapshot saved (or its record finished), and its message queued to
 * be published once that save is durable. A workload that reached `tornDown` leaves: its slot goes
 * to the next one. Nothing here waits: writes are batched per tick by the store.
 */
export class TransitionEffects {
  constructor(private readonly deps: TransitionEffectsDeps) {}

  apply(entry: WorkloadEntry, from: LifecycleState | null, to: LifecycleState, context: WorkloadContext): void {
    const { deps } = this;
    entry.state = to;
    const { id, type } = entry.spec;
    const { grant } = entry;
    const message = transitionMessage(from, to, context, grant, deps.clock.now());
    for (const observer of deps.observers) observer.transition?.(message, context.timings);

    deps.deadlines.arm(id, context);
    if (to === 'running') {
      deps.leases.holdFor(entry);
      deps.log.info({ workload: id, type, runtime: entry.runtime?.name }, 'workload started');
    }
    if (from === 'running') {
      deps.leases.release(id);
    }
    if (to === 'tornDown') {
      deps.store.finish(id, grant, () => persisted(entry.actor), deps.retentionSeconds);
      deps.workloads.remove(id);
      deps.admission.finished(entry);
      deps.deadlines.compactIfStale();
      // One line per workload that ended, with why: what an operator greps for first.
      const ended = { workload: id, type, reason: context.reason, exitCode: context.exitCode ?? undefined, error: context.error ?? undefined };
      if (context.reason === 'completed' || context.reason === 'cancelled') deps.log.info(ended, 'workload ended');
      else deps.log.warn(ended, 'workload ended');
    } else {
      deps.store.save(id, grant, () => persisted(entry.actor));
    }
    // After the save: the message waits for the flush that carries it.
    deps.publishes.enqueue(message, grant);
  }
}
