import type { Logger } from '../log.js';
import type { ShardGrant } from '../ownership/ownership.js';

export interface InboxDrainerDeps {
  /** Shards held now, with their epochs. */
  owned(): ReadonlyMap<number, number>;
  /** Takes what peers recorded into the shard's inbox; rejects with FencedError if not ours. */
  take(grant: ShardGrant): Promise<number>;
  /** A take was refused by the fence. */
  fenced(error: unknown, grant: ShardGrant): boolean;
  readonly log: Logger;
}

/** Peers' nudges are read at most once per this window. */
export const PEER_NUDGE_WINDOW_MS = 20;
/** The least time between two drains of one shard's inbox, however often peers nudge. */
export const MIN_DRAIN_INTERVAL_MS = 100;

/**
 * Drains the inboxes of the shards this replica owns, when a peer says it recorded into them
 * (a nudge over NATS) and on a timer. At most one drain per shard is in flight, and nudges that
 * arrive meanwhile become one more drain, no sooner than MIN_DRAIN_INTERVAL_MS after: a flood of
 * nudges (4 s of forged ones cost two replicas every shard, the event loop too busy with drains to
 * renew its leases) costs at most one Redis call per shard per interval.
 */
export class InboxDrainer {
  private readonly inFlight = new Set<number>();
  private readonly again = new Set<number>();
  private peerWindowOpen = false;
  private peerNudgesMissed = false;

  constructor(private readonly deps: InboxDrainerDeps) {}

  /**
   * A nudge message from a peer. One is read per PEER_NUDGE_WINDOW_MS; those that arrive within
   * the window are not even parsed, and become one nudge of every owned shard when it closes. A
   * flood then costs a timestamp check per message, not a parse.
   */
  fromPeer(data: Uint8Array, shardCount: number): void {
    if (this.peerWindowOpen) {
      this.peerNudgesMissed = true;
      return;
    }
    this.peerWindowOpen = true;
    setTimeout(() => {
      this.peerWindowOpen = false;
      if (!this.peerNudgesMissed) return;
      this.peerNudgesMissed = false;
      this.nudge();
    }, PEER_NUDGE_WINDOW_MS).unref();
    const shards = parseNudge(data, shardCount);
    if (shards && shards.size > 0) this.nudge(shards);
  }

  /** Drains the given shards' inboxes (every owned shard when none is given). */
  nudge(shards?: ReadonlySet<number>): void {
    for (const [shard, epoch] of this.deps.owned()) {
      if (shards && !shards.has(shard)) continue;
      if (this.inFlight.has(shard)) this.again.add(shard);
      else this.drain({ shard, epoch });
    }
  }

  private drain(grant: ShardGrant): void {
    this.inFlight.add(grant.shard);
    this.deps
      .take(grant)
      .catch((error: unknown) => {
        if (!this.deps.fenced(error, grant)) this.deps.log.warn({ err: error, shard: grant.shard }, 'could not read a shard inbox');
      })
      .then(() => new Promise((resolve) => setTimeout(resolve, MIN_DRAIN_INTERVAL_MS)))
      .finally(() => {
        this.inFlight.delete(grant.shard);
        if (!this.again.delete(grant.shard)) return;
        const epoch = this.deps.owned().get(grant.shard);
        if (epoch !== undefined) this.drain({ shard: grant.shard, epoch });
      })
      .catch(() => undefined);
  }
}

/**
 * The shards a nudge names, or null for a message that is not one: a JSON array of shard numbers,
 * at most `shardCount` of them, each in range. Anyone allowed to publish can send one, so it is
 * read with bounds and never trusted beyond "look at these inboxes".
 */
export function parseNudge(data: Uint8Array, shardCount: number): Set<number> | null {
  // Every shard number written out, with its comma, takes at most 6 bytes.
  if (data.length > shardCount * 6 + 2) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length > shardCount) return null;
  const shards = new Set<number>();
  for (const shard of parsed) if (Number.isInteger(shard) && (shard as number) >= 0 && (shard as number) < shardCount) shards.add(shard as number);
  return shards;
}
