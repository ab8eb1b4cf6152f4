import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { eventually } from '../helpers/eventually.js';
import { uniquePrefix } from '../helpers/servers.js';
import { ReplicaSet } from './replicas.js';

const TTL = 3000;

describe('a replica cut off from Redis', () => {
  let server: OwnedServer;
  const killed: OwnedServer[] = [];
  let set: ReplicaSet | undefined;
  before(async () => {
    server = await startRedis();
  });
  afterEach(() => set?.closeAll());
  after(async () => {
    await Promise.all([server, ...killed].map((s) => s.stop()));
  });

  /** Fences are declared locally, all of them, before anyone could take the shards over. */
  function assertFencedInTime(owner: string, since: number, shards: ReadonlyMap<number, number>): void {
    const lost = set!.log.filter((event) => event.kind === 'lost' && event.replica === owner && event.at >= since);
    assert.deepEqual(new Set(lost.map((event) => event.shard)), new Set(shards.keys()));
    for (const event of lost) {
      assert.equal(event.kind === 'lost' && event.reason, 'expired');
      assert.ok(event.at - since < TTL, `shard ${event.shard} fenced ${Math.round(event.at - since)} ms after the outage began; the TTL is ${TTL} ms`);
    }
  }

  it('fences every shard itself within the TTL when Redis hangs, and takes them back under new epochs when it answers', async () => {
    set = new ReplicaSet(server.url, { prefix: uniquePrefix(), ttlMs: TTL, pollMs: 100 });
    const replica = await set.start('a');
    const before = new Map(replica.ownership.owned());
    assert.equal(before.size, 64);

    server.process.kill('SIGSTOP'); // a partition: commands hang rather than fail
    const since = performance.now();
    try {
      await eventually(() => assertFencedInTime('a', since, before), 2 * TTL);
      assert.equal(replica.ownership.owned().size, 0);
    } finally {
      server.process.kill('SIGCONT');
    }
    await eventually(() => assert.equal(replica.ownership.owned().size, 64), 4 * TTL);
    for (const [shard, epoch] of replica.ownership.owned()) assert.ok(epoch > before.get(shard)!, `shard ${shard}`);
  });

  it('fences every shard within the TTL when Redis dies, and after a restart that lost every key, still never reuses an epoch', async () => {
    set = new ReplicaSet(server.url, { prefix: uniquePrefix(), ttlMs: TTL, pollMs: 100 });
    const replica = await set.start('b');
    const before = new Map(replica.ownership.owned());
    assert.equal(before.size, 64);

    const since = performance.now();
    await server.kill('SIGKILL');
    killed.push(server);
    await eventually(() => assertFencedInTime('b', since, before), 2 * TTL);
    assert.equal(replica.ownership.owned().size, 0);

    // No persistence: the shard hashes, epochs included, are gone.
    server = await startRedis({ port: server.port });
    await eventually(() => assert.equal(replica.ownership.owned().size, 64), 4 * TTL);
    for (const [shard, epoch] of replica.ownership.owned()) assert.ok(epoch > before.get(shard)!, `shard ${shard}: ${epoch} after ${before.get(shard)}`);
  });
});
