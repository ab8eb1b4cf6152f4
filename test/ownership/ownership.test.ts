import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { FencedError } from '../../src/ownership/fencing.js';
import { OwnershipScripts } from '../../src/ownership/ownership-scripts.js';
import { RedisOwnership } from '../../src/ownership/redis-ownership.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { probeKey, probeWrite } from './probe.js';
import { ReplicaSet, sleep } from './replicas.js';

const servers = useServers();
const TTL = 1500;

describe('shard ownership among replicas', () => {
  let set: ReplicaSet;
  let prefix: string;
  const start = (ttlMs = TTL) => {
    prefix = uniquePrefix();
    set = new ReplicaSet(servers().redis.url, { prefix, ttlMs, pollMs: 100 });
    return set;
  };
  afterEach(() => set?.closeAll());

  /** Every shard has exactly one owner among `replicas`, and Redis agrees with each of them. */
  async function assertOneOwnerEach(replicas: { id: string; ownership: RedisOwnership }[]): Promise<Map<string, number>> {
    const owners = new Map<number, string>();
    for (const { id, ownership } of replicas) {
      for (const shard of ownership.owned().keys()) {
        assert.equal(owners.get(shard), undefined, `shard ${shard} owned by ${owners.get(shard)} and ${id}`);
        owners.set(shard, id);
      }
    }
    assert.equal(owners.size, 64, 'every shard is owned');
    for (const [shard, id] of owners) assert.equal((await replicas[0]!.ownership.ownerOf(shard))?.replicaId, id);
    const counts = new Map<string, number>();
    for (const id of owners.values()) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  }

  it('two replicas split 64 shards 32/32 and then stop moving them', async () => {
    const replicas = start();
    const a = await replicas.start('a');
    const b = await replicas.start('b');
    await eventually(async () => assert.deepEqual([...(await assertOneOwnerEach([a, b])).values()], [32, 32]));
    // Settled: for two TTLs nothing moves, nothing is lost (no ping-pong, no self-fencing of a healthy replica).
    const settled = replicas.log.length;
    await sleep(2 * TTL);
    assert.deepEqual(replicas.log.slice(settled), []);
    await assertOneOwnerEach([a, b]);
  });

  it('three replicas each hold 20 to 22 shards, every shard exactly one owner', async () => {
    const replicas = start();
    const all = [await replicas.start('a'), await replicas.start('b'), await replicas.start('c')];
    await eventually(async () => {
      const counts = await assertOneOwnerEach(all);
      for (const [id, count] of counts) assert.ok(count >= 20 && count <= 22, `${id} holds ${count}`);
    });
  });

  it("a joining replica gets shards only after the old owner persisted and released them, under higher epochs", async () => {
    const replicas = start();
    const stale: unknown[] = [];
    const writer = redisClient(servers().redis.url);
    try {
      const a = await replicas.start('a', {
        persistMs: 150,
        // Persisting happens under the old epoch, which must still be accepted while releasing.
        onReleasing: (grant) => probeWrite(writer, prefix, grant.shard, 'a', grant.epoch, `a persisted ${grant.epoch}`),
      });
      assert.equal(a.ownership.owned().size, 64);
      const before = new Map(a.ownership.owned());
      const b = await replicas.start('b');
      await eventually(() => assert.equal(b.ownership.owned().size, 32));

      for (const [shard, epoch] of b.ownership.owned()) {
        const at = (kind: string, replica: string) => replicas.log.findIndex((e) => e.kind === kind && e.replica === replica && e.shard === shard);
        const persisted = at('released', 'a');
        assert.ok(persisted >= 0, `a persisted shard ${shard} before giving it up`);
        assert.ok(persisted < at('acquired', 'b'), `b acquired shard ${shard} only after a finished persisting it`);
        assert.ok(epoch > before.get(shard)!, 'the new owner holds a higher epoch');
        assert.equal(await writer.get(probeKey(prefix, shard)), `a persisted ${before.get(shard)}`);
        // The old owner's epoch is fenced now.
        await probeWrite(writer, prefix, shard, 'a', before.get(shard)!, 'stale').catch((error: unknown) => stale.push(error));
      }
      assert.equal(stale.length, 32);
      assert.ok(stale.every((error) => error instanceof FencedError && error.code === 'FENCED'));
      await assertOneOwnerEach([a, b]);
    } finally {
      writer.disconnect();
    }
  });

  it('a graceful stop hands every shard over well before the lease TTL would have expired', async () => {
    const ttlMs = 4000;
    const replicas = start(ttlMs);
    const a = await replicas.start('a');
    const b = await replicas.start('b');
    await eventually(() => assert.equal(b.ownership.owned().size, 32));
    const before = new Map(a.ownership.owned());
    const stoppedAt = performance.now();
    await Promise.all([a.ownership.stop({ release: true }), a.ownership.stop({ release: true })]); // SIGTERM twice
    await a.close();
    await eventually(() => assert.equal(b.ownership.owned().size, 64), ttlMs);
    const handover = performance.now() - stoppedAt;
    // A crash would leave them held for the TTL; a handover does not wait for it.
    assert.ok(handover < ttlMs / 2, `handover took ${Math.round(handover)} ms, the TTL is ${ttlMs} ms`);
    for (const [shard, epoch] of before) assert.ok(b.ownership.epochOf(shard)! > epoch);
    assert.deepEqual(await b.ownership.members(), ['b'], 'a left the membership');
    assert.ok(!replicas.log.some((e) => e.kind === 'lost'), 'a handover loses nothing');
    const releasing = replicas.log.filter((e) => e.kind === 'releasing' && e.replica === 'a' && e.at >= stoppedAt).map((e) => e.shard);
    assert.deepEqual(releasing.sort((x, y) => x - y), [...before.keys()].sort((x, y) => x - y), 'each shard persisted once');
  });

  it('epochs strictly increase across every acquisition of a shard, through joins and stops', async () => {
    const replicas = start();
    const a = await replicas.start('a');
    const b = await replicas.start('b');
    await eventually(() => assert.equal(b.ownership.owned().size, 32));
    await a.close({ release: true });
    await eventually(() => assert.equal(b.ownership.owned().size, 64));
    const c = await replicas.start('c');
    await eventually(() => assert.equal(c.ownership.owned().size, 32));
    await b.close({ release: true });
    await eventually(() => assert.equal(c.ownership.owned().size, 64));
    for (const [shard, epochs] of replicas.epochsByShard()) {
      for (let i = 1; i < epochs.length; i++) assert.ok(epochs[i]! > epochs[i - 1]!, `shard ${shard}: ${epochs.join(', ')}`);
    }
    assert.ok([...replicas.epochsByShard().values()].some((epochs) => epochs.length >= 3));
  });

  it("never lets another replica acquire a shard whose holder's lease is live, and bumps the epoch once it lapses", async () => {
    const replicas = start();
    const holder = await replicas.start('holder');
    const held = new Map(holder.ownership.owned());
    const redis = redisClient(servers().redis.url);
    try {
      // What a racing replica's acquire would do, shard by shard, straight at the script.
      const intruder = new OwnershipScripts(redis, prefix, 'intruder', 'incarnation-1', 64);
      for (const shard of held.keys()) assert.equal(await intruder.acquire(shard, TTL), 0, `shard ${shard} was taken from a live holder`);
      assert.deepEqual(holder.ownership.owned(), held);
      await holder.close({ release: false }); // crash: the leases run out by Redis time
      await eventually(async () => assert.ok((await intruder.acquire(0, TTL)) > held.get(0)!), 3 * TTL);
      await assert.rejects(probeWrite(redis, prefix, 0, 'holder', held.get(0)!, 'late'), FencedError);
    } finally {
      redis.disconnect();
    }
  });

  it('drops a shard at once when one of its writes is refused, instead of acting until the next renewal', async () => {
    const replicas = start(10_000); // renewals far apart: only the refused write can tell it
    const a = await replicas.start('a');
    const [shard, epoch] = [...a.ownership.owned()][0]!;
    // Someone took the shard behind a's back (here: a new incarnation under the same id).
    const usurper = new OwnershipScripts(a.redis, prefix, 'a', 'incarnation-2', 64);
    assert.ok((await usurper.acquire(shard, 10_000)) > epoch);
    const error = await probeWrite(a.redis, prefix, shard, 'a', epoch, 'x').catch((e: unknown) => e);
    assert.ok(error instanceof FencedError);
    a.ownership.reportFenced({ shard, epoch });
    assert.equal(a.ownership.epochOf(shard), undefined);
    assert.deepEqual(replicas.log.filter((e) => e.kind === 'lost').map((e) => [e.shard, e.epoch, e.kind === 'lost' && e.reason]), [[shard, epoch, 'refused']]);
    a.ownership.reportFenced({ shard, epoch }); // twice, or for an epoch no longer held: nothing more
    assert.equal(replicas.log.filter((e) => e.kind === 'lost').length, 1);
  });

  it('refuses a replica configured with another shard count, which would map workloads elsewhere', async () => {
    const replicas = start();
    await replicas.start('a');
    await assert.rejects(replicas.start('b', { shardCount: 32 }), (error) => error instanceof ConfigError && /uses 64 shards/.test(error.message));
  });

  it('refuses a second live process with the same replica id instead of letting them steal from each other', async () => {
    const replicas = start(500);
    const first = await replicas.start('same');
    const owned = new Map(first.ownership.owned());
    await assert.rejects(replicas.start('same'), (error) => error instanceof ConfigError && /another live process/.test(error.message));
    assert.deepEqual(first.ownership.owned(), owned, 'the first keeps its shards and epochs');
  });

  it('rejects timings under which a healthy replica would fence itself between renewals', () => {
    const redis = redisClient(servers().redis.url);
    const callbacks = { onAcquired: async () => {}, onReleasing: async () => {}, onLost: () => {} };
    try {
      assert.throws(() => new RedisOwnership(redis, callbacks, { ttlMs: 1000, intervalMs: 700 }), ConfigError);
      assert.throws(() => new RedisOwnership(redis, callbacks, { fenceFraction: 1 }), ConfigError);
      assert.throws(() => new RedisOwnership(redis, callbacks, { replicaId: 'a}b{c' }), ConfigError);
      assert.throws(() => new RedisOwnership(redis, callbacks, { replicaId: '' }), ConfigError);
    } finally {
      redis.disconnect();
    }
  });
});
