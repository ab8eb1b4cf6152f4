import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { systemClock } from '../../src/clock.js';
import { createKeys } from '../../src/keys.js';
import { RedisLeases } from '../../src/lease/redis-leases.js';
import { Reaper } from '../../src/lease/reaper.js';
import { silentLogger } from '../../src/log.js';
import { FencedError } from '../../src/ownership/fencing.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';
import { LeaseKeeper } from '../../src/supervisor/lease-keeper.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { holdShard } from '../helpers/shard-grant.js';

const servers = useServers();

async function commandCalls(redis: Redis, command: string): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

describe('leases and the reaper', () => {
  let redis: Redis;
  before(() => {
    redis = redisClient(servers().redis.url);
  });
  after(() => redis.quit());

  it("uses the seed's key, so a trusted workload can renew with SET ... EX", async () => {
    const keys = createKeys('');
    assert.equal(keys.lease('req-123'), 'session:req-123:heartbeat');
  });

  // One shard, held by 'r1' under epoch 7: every id lands in it.
  async function setUp() {
    const keys = createKeys(uniquePrefix(), 1);
    const grant = await holdShard(redis, keys, 'r1', 0, 7);
    return { keys, grant, leases: new RedisLeases(redis, keys, 'r1') };
  }
  const owning = (grant: ShardGrant) => ({ owned: () => new Map([[grant.shard, grant.epoch]]), reportFenced: () => undefined });

  it('a burst of heartbeats from one workload within a tick costs Redis one write, not one each', async () => {
    const { keys, grant, leases } = await setUp();
    const keeper = new LeaseKeeper(leases, systemClock, 60_000, silentLogger);
    try {
      keeper.hold('chatty', grant, 30_000, false, false);
      keeper.hold('quiet', grant, 30_000, false, false);
      const before = await commandCalls(redis, 'set');
      // Pipelined heartbeats reach the control plane in one read: one tick.
      for (let i = 0; i < 200; i++) assert.equal(keeper.renew('chatty'), true);
      assert.equal(keeper.renew('quiet'), true);
      await new Promise((resolve) => setImmediate(resolve)); // the tick's writes go out
      // Asked on the same connection, so answered after those writes.
      assert.ok((await redis.pttl(keys.lease('chatty'))) > 29_000, 'the lease was renewed');
      assert.ok((await redis.pttl(keys.lease('quiet'))) > 29_000);
      assert.equal((await commandCalls(redis, 'set')) - before, 2);
    } finally {
      keeper.stop();
    }
  });

  it('reports exactly the lapsed leases, once, touching only what is due', async () => {
    const { keys, grant, leases } = await setUp();
    await leases.grant(Array.from({ length: 2000 }, (_, i) => ({ id: `live-${i}`, ttlMs: 60_000, grant })));
    await leases.grant(Array.from({ length: 10 }, (_, i) => ({ id: `short-${i}`, ttlMs: 50, grant })));
    await new Promise((resolve) => setTimeout(resolve, 120));
    const before = await commandCalls(redis, 'pttl');
    const lapsed = await leases.reap(grant, 1000, 30_000);
    const pttlCalls = (await commandCalls(redis, 'pttl')) - before;
    assert.deepEqual(lapsed.sort(), Array.from({ length: 10 }, (_, i) => `short-${i}`).sort());
    assert.equal(pttlCalls, 10, 'the 2000 live leases were not looked at');
    assert.deepEqual(await leases.reap(grant, 1000, 30_000), [], 'reported once');
    assert.equal(await redis.zcard(keys.shard(0).leaseDeadlines), 2000);
  });

  it('does not reap a workload that renewed its own key with a plain SET EX; it re-arms it', async () => {
    const { keys, grant, leases } = await setUp();
    await leases.grant([{ id: 'selfie', ttlMs: 50, grant }]);
    await redis.set(keys.lease('selfie'), 'OK', 'EX', 30);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(await leases.reap(grant, 100, 30_000), []);
    const score = Number(await redis.zscore(keys.shard(0).leaseDeadlines, 'selfie'));
    assert.ok(score > Date.now() + 25_000, 'its deadline follows the key');
  });

  it('lets only the shard owner reap: a replica holding a stale epoch is refused and consumes nothing', async () => {
    const { keys, grant, leases } = await setUp();
    await leases.grant([{ id: 'lapsing', ttlMs: 20, grant }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stale = new RedisLeases(redis, keys, 'r1');
    await assert.rejects(stale.reap({ shard: 0, epoch: 6 }, 100, 30_000), FencedError);
    const other = new RedisLeases(redis, keys, 'r2');
    await assert.rejects(other.reap(grant, 100, 30_000), FencedError);
    assert.deepEqual(await leases.reap(grant, 100, 30_000), ['lapsing'], 'the owner still sees the lapsed lease');
  });

  it('drains a backlog larger than one batch in one sweep, and a released lease never lapses', async () => {
    const { grant, leases } = await setUp();
    await leases.grant(Array.from({ length: 250 }, (_, i) => ({ id: `b-${i}`, ttlMs: 20, grant })));
    await leases.release([{ id: 'b-0', grant }, { id: 'b-1', grant }]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const seen: string[] = [];
    const reaper = new Reaper(leases, owning(grant), systemClock, { intervalMs: 10_000, batch: 100, defaultTtlMs: 30_000 }, (ids) => seen.push(...ids), silentLogger);
    assert.equal(await reaper.sweep(), 248);
    assert.equal(new Set(seen).size, 248);
    assert.ok(!seen.includes('b-0') && !seen.includes('b-1'));
  });
});
