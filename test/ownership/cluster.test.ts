import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import { FencedError } from '../../src/ownership/fencing.js';
import { memberKeys, shardKeys } from '../../src/ownership/shards.js';
import { eventually } from '../helpers/eventually.js';
import { uniquePrefix } from '../helpers/servers.js';
import { probeWrite } from './probe.js';
import { startCluster, type LocalCluster } from './redis-cluster.js';
import { ReplicaSet } from './replicas.js';

const TTL = 2000;

describe('ownership on a real 3-master Redis Cluster', () => {
  let cluster: LocalCluster;
  let set: ReplicaSet | undefined;
  const client = () => new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 2 } });
  before(async () => {
    cluster = await startCluster(3);
  });
  after(async () => {
    await set?.closeAll();
    await cluster?.stop();
  });

  it("keeps each shard's keys in one slot and spreads the shards over every master", async () => {
    const redis = client();
    try {
      const slot = async (key: string) => Number(await redis.cluster('KEYSLOT', key));
      const masters = new Set<string>();
      const slotOwners = await redis.cluster('SLOTS');
      for (const shard of [0, 1, 31, 63]) {
        const keys = Object.values(shardKeys('app:', shard));
        const slots = new Set(await Promise.all(keys.map(slot)));
        assert.equal(slots.size, 1, `shard ${shard}'s keys share a slot`);
      }
      for (let shard = 0; shard < 64; shard++) {
        const s = await slot(shardKeys('app:', shard).owner);
        masters.add(String(slotOwners.find(([from, to]) => s >= from && s <= to)![2]![1]));
      }
      assert.equal(masters.size, 3, 'the shards live on all three masters');
      const members = memberKeys('app:');
      assert.equal(new Set(await Promise.all([members.set, members.changes, members.shardCount, members.replica('r')].map(slot))).size, 1);
    } finally {
      redis.disconnect();
    }
  });

  it('three replicas share the 64 shards, fence stale writes and hand over on a graceful stop', async () => {
    const prefix = uniquePrefix();
    set = new ReplicaSet('', { prefix, ttlMs: TTL, pollMs: 100 }, client);
    const replicas = [await set.start('a'), await set.start('b'), await set.start('c')];
    await eventually(() => {
      const sizes = replicas.map((r) => r.ownership.owned().size);
      assert.equal(sizes.reduce((a, b) => a + b), 64, `sizes ${sizes}`);
      for (const size of sizes) assert.ok(size >= 20 && size <= 22, `sizes ${sizes}`);
    }, 5 * TTL);
    assert.deepEqual((await replicas[0]!.ownership.members()).sort(), ['a', 'b', 'c']);

    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const [shard, epoch] = [...a.ownership.owned()][0]!;
    assert.equal((await b.ownership.ownerOf(shard))?.replicaId, 'a');
    await probeWrite(a.redis, prefix, shard, 'a', epoch, 'current');
    await a.close({ release: true });
    await eventually(() => assert.equal(replicas.slice(1).reduce((n, r) => n + r.ownership.owned().size, 0), 64), TTL);
    await assert.rejects(probeWrite(b.redis, prefix, shard, 'a', epoch, 'stale'), FencedError);
  });
});

describe('ownership scripts', () => {
  it('take every key from KEYS, never build one from ARGV (one slot per script on Redis Cluster)', () => {
    const dir = fileURLToPath(new URL('../../src/ownership/', import.meta.url));
    const scripts = readdirSync(dir).filter((f) => f.endsWith('.lua'));
    assert.ok(scripts.length >= 8);
    for (const script of scripts) {
      const code = readFileSync(dir + script, 'utf8').replace(/--\[\[[\s\S]*?\]\]/g, '');
      for (const [, key] of code.matchAll(/redis\.call\('(?!TIME')[A-Z]+',\s*([^,)]+)/g)) {
        assert.match(key!, /^(KEYS\[\d\]|lease_key)$/, `${script}: a key from ${key}`);
      }
    }
  });
});
