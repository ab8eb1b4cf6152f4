import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { ChildReplica } from './child-replica.js';
import { probeKey } from './probe.js';
import { ReplicaSet, sleep } from './replicas.js';

const servers = useServers();
const TTL = 2000;
const FENCE_WINDOW = TTL * 0.66;
const LATEST_TICK = (TTL / 3) * 1.2;

describe('a replica that dies or is paused', () => {
  let set: ReplicaSet | undefined;
  let child: ChildReplica | undefined;
  afterEach(async () => {
    await child?.close();
    await set?.closeAll();
  });

  it("has its shards taken by the survivors after its leases expire, within the TTL and a tick, under higher epochs", async () => {
    const prefix = uniquePrefix();
    child = await ChildReplica.start({ url: servers().redis.url, prefix, id: 'victim', ttlMs: TTL });
    set = new ReplicaSet(servers().redis.url, { prefix, ttlMs: TTL, pollMs: 100 });
    const survivors = [await set.start('s1'), await set.start('s2')];
    await eventually(() => assert.equal(survivors.reduce((n, s) => n + s.ownership.owned().size, 0) + child!.held().size, 64));
    await eventually(() => assert.ok(child!.held().size >= 20, `victim holds ${child!.held().size}`));
    const victims = child.held();

    child.signal('SIGKILL');
    const killedAt = performance.now();
    await eventually(() => assert.equal(survivors.reduce((n, s) => n + s.ownership.owned().size, 0), 64), 4 * TTL);
    const takeover = performance.now() - killedAt;

    assert.ok(!child.lines.some((line) => line.event === 'lost'), 'the victim was healthy until killed');
    // Its last renewal was sent less than the fence window before the kill, so its leases ran
    // at least TTL - window after it: taking them sooner would be stealing from a live holder.
    assert.ok(takeover >= TTL - FENCE_WINDOW, `taken after ${Math.round(takeover)} ms, before the leases could expire`);
    assert.ok(takeover <= TTL + LATEST_TICK + 1000, `taken after ${Math.round(takeover)} ms; TTL ${TTL} ms`);
    for (const [shard, epoch] of victims) {
      const owners = survivors.filter((s) => s.ownership.epochOf(shard) !== undefined);
      assert.equal(owners.length, 1, `shard ${shard} has one owner`);
      assert.ok(owners[0]!.ownership.epochOf(shard)! > epoch, `shard ${shard}: epoch rose`);
    }
  });

  it('is fenced when it wakes from SIGSTOP: it declares its shards lost, and Redis refuses its stale writes', async () => {
    const prefix = uniquePrefix();
    const redis = redisClient(servers().redis.url);
    try {
      child = await ChildReplica.start({ url: servers().redis.url, prefix, id: 'sleeper', ttlMs: TTL });
      set = new ReplicaSet(servers().redis.url, { prefix, ttlMs: TTL, pollMs: 100 });
      const survivor = await set.start('survivor');
      await eventually(() => assert.equal(child!.held().size, 32));
      await eventually(() => assert.ok(child!.lines.some((line) => line.event === 'write' && line.outcome === 'accepted')));
      const paused = child.held();

      child.signal('SIGSTOP');
      const stoppedAt = performance.now();
      await eventually(() => assert.equal(survivor.ownership.owned().size, 64), 4 * TTL);
      for (const [shard, epoch] of paused) assert.ok(survivor.ownership.epochOf(shard)! > epoch);
      await sleep(Math.max(0, stoppedAt + 2 * TTL - performance.now()));
      const probes = await Promise.all([...paused.keys()].map((shard) => redis.get(probeKey(prefix, shard))));
      const said = child.lines.length;
      const lastRoundBefore = Math.max(...child.lines.filter((line) => line.event === 'write').map((line) => line.round!));

      child.signal('SIGCONT');
      await eventually(() => {
        const lost = new Set(child!.lines.slice(said).filter((line) => line.event === 'lost').map((line) => line.shard));
        assert.deepEqual([...paused.keys()].filter((shard) => !lost.has(shard)), [], 'every paused shard is declared lost');
      });
      // A round that began before the pause may finish after it; later rounds began awake.
      const awake = () => child!.lines.filter((line) => line.event === 'write' && line.round! > lastRoundBefore + 1 && paused.get(line.shard!) === line.epoch);
      await eventually(() => assert.ok(awake().length >= paused.size, 'the stale actor tried to write every shard again'));
      for (const write of awake()) {
        assert.equal(write.outcome, 'fenced', `shard ${write.shard} round ${write.round}`);
        assert.equal(write.believed, undefined, 'epochOf said the shard was no longer ours');
      }
      // A probe may change again only under a newer epoch: the woken replica may already have
      // rejoined and been handed shards back, and its writes under those epochs are legitimate.
      const after = await Promise.all([...paused.keys()].map((shard) => redis.get(probeKey(prefix, shard))));
      [...paused].forEach(([shard, epoch], i) => {
        if (after[i] === probes[i]) return;
        const written = Number(after[i]?.split(':')[1]);
        assert.ok(written > epoch, `shard ${shard}: a write under the stale epoch ${epoch} landed (${after[i]})`);
      });
      assert.ok(!set.log.some((event) => event.kind === 'lost'), 'the survivor lost nothing to the woken replica');

      // Awake again, it rejoins like a new replica: shards come back by handover, under new epochs.
      await eventually(() => assert.equal(child!.held().size, 32), 4 * TTL);
      const survivorEpochs = set.epochsByShard();
      for (const [shard, epoch] of child.held()) assert.ok(epoch > Math.max(...(survivorEpochs.get(shard) ?? [0])), `shard ${shard}`);
    } finally {
      redis.disconnect();
    }
  });
});
