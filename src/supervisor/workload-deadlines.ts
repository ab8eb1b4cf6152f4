import type { WorkloadContext } from '../../machines/index.js';
import type { Clock } from '../clock.js';
import { DeadlineScheduler } from './deadlines.js';
import type { WorkloadRegistry } from './workload-registry.js';

type DeadlineKind = 'timer.provisionTimeout' | 'timer.lifetime' | 'retry.provision' | 'retry.teardown';

/**
 * The provisioning timeout, the maximum lifetime and retries after a backoff, kept as absolute
 * times in the machine's context: XState's `after` timers are not restored from a persisted snapshot, so the supervisor
 * arms them here from the context, and sends the actor its timer event when one comes due.
 */
export class WorkloadDeadlines {
  private readonly scheduler: DeadlineScheduler<DeadlineKind>;

  constructor(
    clock: Clock,
    private readonly workloads: Pick<WorkloadRegistry, 'get' | 'size'>,
  ) {
    this.scheduler = new DeadlineScheduler<DeadlineKind>(clock, (id, type) => this.workloads.get(id)?.actor.send({ type }));
  }

  /** Arms the deadline of the state the workload is in, if it has one. */
  arm(id: string, context: WorkloadContext): void {
    if (context.phase === 'provisioning' && context.provisionDeadlineAt !== null) {
      this.scheduler.add(id, 'timer.provisionTimeout', context.provisionDeadlineAt);
    } else if (context.phase === 'running' && context.lifetimeDeadlineAt !== null) {
      this.scheduler.add(id, 'timer.lifetime', context.lifetimeDeadlineAt);
    }
  }

  /**
   * Called when a workload ended: once most deadlines belong to workloads that moved on, drops
   * them, so that the heap tracks live work only (they would be ignored when due anyway).
   */
  compactIfStale(): void {
    if (this.scheduler.size <= 2 * this.workloads.size + 1024) return;
    this.scheduler.compact((id, kind) => {
      const phase = this.workloads.get(id)?.state;
      return kind === 'timer.lifetime' ? phase === 'running' : kind === 'retry.teardown' ? phase === 'expiring' : phase === 'provisioning';
    });
  }

  /** Arms the retry the machine scheduled after a backoff (`retryDueAt`), in the state it waits in. */
  armRetry(id: string, context: WorkloadContext): void {
    if (context.retryDueAt === null || context.retryDueAt === undefined) return;
    this.scheduler.add(id, context.phase === 'expiring' ? 'retry.teardown' : 'retry.provision', context.retryDueAt);
  }

  stop(): void {
    this.scheduler.stop();
  }
}
