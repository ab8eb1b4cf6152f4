import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ShardGrant } from '../ownership/ownership.js';
import type { WorkloadSpec } from '../spec/index.js';
import type { LeaseGrant, LeaseStore } from './ports.js';

interface Held {
  readonly grant: ShardGrant;
  readonly ttlMs: number;
  readonly renewedByRuntime: boolean;
  lastGrantAt: number;
}

/**
 * The leases of running workloads. Grants and releases of one tick go to Redis together, grants
 * first (one connection, so in order); one timer renews every runtime-renewed lease that is a
 * third of the way to lapsing. Self-heartbeating workloads are renewed only by their heartbeats.
 */
export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  /** By id: a workload's heartbeats within one tick are one write, not one each. */
  private grants = new Map<string, LeaseGrant>();
  private releases: { id: string; grant: ShardGrant }[] = [];
  private flushScheduled = false;
  private timer: unknown = null;

  constructor(
    private readonly store: LeaseStore,
    private readonly clock: Clock,
    private readonly tickMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = this.clock.setTimeout(() => {
      const now = this.clock.now();
      for (const [id, lease] of this.held) {
        if (lease.renewedByRuntime && now - lease.lastGrantAt >= lease.ttlMs / 3) this.grant(id, lease);
      }
      this.start();
    }, this.tickMs);
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.held.clear();
  }

  /** `grantNow: false` tracks a lease that already exists in Redis (a restored self-heartbeater). */
  hold(id: string, grant: ShardGrant, ttlMs: number, renewedByRuntime: boolean, grantNow = true): void {
    const lease: Held = { grant, ttlMs, renewedByRuntime, lastGrantAt: this.clock.now() };
    this.held.set(id, lease);
    if (grantNow) this.grant(id, lease);
  }

  /** Holds a running workload's lease as its spec says: how long, and who renews it. */
  holdFor({ spec, grant }: { spec: WorkloadSpec; grant: ShardGrant }, grantNow = true): void {
    this.hold(spec.id, grant, spec.leaseSeconds * 1000, spec.heartbeat === 'runtime', grantNow);
  }

  /** A heartbeat from the workload itself; false when it holds no lease. */
  renew(id: string): boolean {
    const lease = this.held.get(id);
    if (!lease) return false;
    this.grant(id, lease);
    return true;
  }

  release(id: string): void {
    const lease = this.held.get(id);
    if (!lease) return;
    this.held.delete(id);
    this.releases.push({ id, grant: lease.grant });
    this.scheduleFlush();
  }

  /** Stops renewing, without touching Redis: the shard went to another replica, whose the lease is now. */
  forget(id: string): void {
    this.held.delete(id);
  }

  private grant(id: string, lease: Held): void {
    lease.lastGrantAt = this.clock.now();
    this.grants.set(id, { id, ttlMs: lease.ttlMs, grant: lease.grant });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const grants = this.grants;
      const releases = this.releases;
      this.grants = new Map();
      this.releases = [];
      const failed = (error: unknown) => this.log.error({ err: error }, 'lease update failed');
      this.store.grant([...grants.values()]).catch(failed);
      this.store.release(releases).catch(failed);
    });
  }
}
