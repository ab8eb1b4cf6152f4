import type { Clock } from '../clock.js';
import type { ShardGrant } from '../ownership/ownership.js';

/** How often a grant in doubt is looked at again. */
export const IN_DOUBT_RETRY_MS = 25;

/** The part of the ownership port that says whether a grant is still valid. */
export interface EpochSource {
  epochOf(shard: number): number | undefined;
}

/**
 * What this replica may still do under a grant. A grant is in one of three conditions:
 * - held: ownership reports this exact epoch for the shard (checked against the clock each time);
 * - in doubt: not reported as ours right now, but not let go of either (a stalled event loop let
 *   its validity pass before the renewal that extends it was answered): it may come back;
 * - ended: this replica handed the shard over or lost it under that epoch; it never comes back.
 * While a shard is being handed over, it is still owned but nothing new starts in it.
 */
export class HeldGrants {
  /** Shards being handed over: nothing new starts in them. */
  private readonly releasing = new Set<number>();
  /** Grants let go of (`shard:epoch`): what waited to be done under them never will be. */
  private readonly ended = new Set<string>();

  constructor(
    private readonly ownership: EpochSource,
    private readonly clock: Clock,
  ) {}

  /** True while ownership reports exactly this epoch for the shard. */
  owns(grant: ShardGrant): boolean {
    return this.ownership.epochOf(grant.shard) === grant.epoch;
  }

  /**
   * True while this replica may act for the shard under exactly this epoch, and is not handing
   * it over: a workload recorded during a handover is left to the next owner (it is in the
   * shard's active set), never started here after the shard's workloads were persisted.
   */
  holds(grant: ShardGrant): boolean {
    return !this.releasing.has(grant.shard) && this.owns(grant);
  }

  hasEnded(grant: ShardGrant): boolean {
    return this.ended.has(grantKey(grant));
  }

  /** The shard was lost under this grant: nothing more is done under it. */
  end(grant: ShardGrant): void {
    this.ended.add(grantKey(grant));
  }

  /**
   * Runs a graceful handover: the shard starts nothing new meanwhile, and the grant ends once the
   * handover is done, so that what it saved can still be published under it (the next owner
   * continues from the saved state and would never publish those transitions itself).
   */
  async release(grant: ShardGrant, handover: () => Promise<void>): Promise<void> {
    this.releasing.add(grant.shard);
    try {
      await handover();
    } finally {
      this.end(grant);
      this.releasing.delete(grant.shard);
    }
  }

  /**
   * True once the grant may be acted on (waiting while it is in doubt); false once it is lost or
   * being handed over. Giving up at the first doubt left an acquired shard with its workloads
   * never restored, stranded until the shard moved.
   */
  async stillHolds(grant: ShardGrant): Promise<boolean> {
    return (await this.whileInDoubt(grant)) && !this.releasing.has(grant.shard);
  }

  /** Resolves true once the grant is valid again, false once it was let go of. */
  async whileInDoubt(grant: ShardGrant): Promise<boolean> {
    for (;;) {
      if (this.hasEnded(grant)) return false;
      if (this.owns(grant)) return true;
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, IN_DOUBT_RETRY_MS));
    }
  }
}

export function grantKey(grant: ShardGrant): string {
  return `${grant.shard}:${grant.epoch}`;
}

export function sameGrant(a: ShardGrant, b: ShardGrant): boolean {
  return a.shard === b.shard && a.epoch === b.epoch;
}
