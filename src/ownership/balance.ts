import { fnv1a32 } from './shards.js';

/** What one replica sees when it balances: Redis's view of owners, and what it holds itself. */
export interface BalanceView {
  readonly me: string;
  /** Live replica ids (with or without `me`). */
  readonly members: readonly string[];
  /** The live owner of each shard by Redis (index = shard), or null when the shard is free. */
  readonly owners: readonly (string | null)[];
  /** The shards this replica holds and may act for. */
  readonly mine: ReadonlySet<number>;
}

export interface BalancePlan {
  /** Shards to hand over (graceful release) because others are below their share. */
  readonly shed: number[];
  /** Free shards to try to acquire. */
  readonly acquire: number[];
}

/**
 * Each replica's share is `ceil(shards / live replicas)`. A replica above its share sheds only
 * as many shards as the others are missing, so shards never bounce between replicas that are
 * all at their share. A replica below its share takes free shards up to it; free shards that no
 * other replica is missing are taken even past the share (better over-share than unowned, e.g.
 * while a dead replica's membership has not expired yet); the surplus is shed later, when
 * someone is missing shards.
 *
 * A shard is never taken from a live holder: only free or expired leases are acquired.
 *
 * Each replica prefers its own shards (rendezvous hashing on `replica/shard`), so replicas racing
 * for free shards mostly try different ones, and a replica sheds the shards it least prefers.
 */
export function planBalance(view: BalanceView): BalancePlan {
  const live = new Set(view.members);
  live.add(view.me);
  const shardCount = view.owners.length;
  const target = Math.ceil(shardCount / live.size);
  const counts = new Map<string, number>();
  for (const owner of view.owners) if (owner !== null) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  let missingElsewhere = 0;
  for (const member of live) if (member !== view.me) missingElsewhere += Math.max(0, target - (counts.get(member) ?? 0));

  const preference = (shard: number) => fnv1a32(`${view.me}/${shard}`);
  const held = view.mine.size;
  const shedCount = held > target ? Math.min(held - target, missingElsewhere) : 0;
  const shed = [...view.mine].sort((a, b) => preference(a) - preference(b)).slice(0, shedCount);

  const free: number[] = [];
  view.owners.forEach((owner, shard) => {
    // Our own id on a shard we do not hold: a lease we fenced locally but could not release.
    if (owner === null || (owner === view.me && !view.mine.has(shard))) free.push(shard);
  });
  const want = missingElsewhere === 0 ? free.length : Math.max(0, target - held);
  const acquire = free.sort((a, b) => preference(b) - preference(a)).slice(0, want);
  return { shed, acquire };
}
