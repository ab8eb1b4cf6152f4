import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RedisLeases } from './redis-leases.js';

export interface ReaperOptions {
  readonly intervalMs: number;
  /** Ids per Redis call; a larger backlog is drained in consecutive calls within one tick. */
  readonly batch: number;
  readonly defaultTtlMs: number;
}

/**
 * One timer for all leases. The reaper only reports: each lapsed id becomes an event for its
 * actor, and the actor decides what that means in its current state.
 */
export class Reaper {
  private timer: unknown = null;
  private running = false;
  private stopped = false;

  constructor(
    private readonly leases: RedisLeases,
    private readonly clock: Clock,
    private readonly options: ReaperOptions,
    private readonly onLapsed: (ids: string[]) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** One pass; returns how many lapsed leases it found. Exposed for tests and the benchmark. */
  async sweep(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let found = 0;
    try {
      for (;;) {
        const ids = await this.leases.reap(this.clock.now(), this.options.batch, this.options.defaultTtlMs);
        if (ids.length > 0) this.onLapsed(ids);
        found += ids.length;
        if (ids.length < this.options.batch) break;
      }
    } catch (error) {
      this.log.warn({ err: error }, 'lease reaper pass failed; will retry');
    } finally {
      this.running = false;
    }
    return found;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      void this.sweep().finally(() => this.schedule());
    }, this.options.intervalMs);
  }
}
