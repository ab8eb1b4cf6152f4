import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/eventually.js';
import { processesWith } from '../helpers/processes.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { chainViolations } from '../helpers/transition-chains.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { ReplicaSet, SHARD_TTL_MS } from './replica-set.js';

const servers = useServers();
const workload = (id: string, cmd: string[]) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd });

describe('three replicas on one queue', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-replicas-'));
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  function replicaSet(): ReplicaSet {
    const prefix = uniquePrefix();
    const args = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--state-dir', stateDir];
    return new ReplicaSet([...args, '--http-port', '0', '--max-concurrent', 'trusted=200', '--grace', '500'], prefix);
  }

  it('survives kill -9 of one replica during a burst: its shards are taken within the TTL, every workload ends once, none is provisioned twice', async () => {
    const set = replicaSet();
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    try {
      await Promise.all(['r1', 'r2', 'r3'].map((id) => set.start(id)));
      await set.untilBalanced(redis);
      const firstEpochs = new Set((await set.owners(redis)).map(({ epoch }) => epoch));
      const ids = Array.from({ length: 300 }, (_, i) => `burst-${i}`);
      await redis.lpush(set.keys.queue, ...ids.map((id) => workload(id, ['sleep', '0.3'])));
      await recorder.until(() => ids.filter((id) => recorder.ended(id)).length >= 60, 30_000, 'a fifth of the burst ended');

      await set.kill('r2', 'SIGKILL');
      const killedAt = Date.now();
      await eventually(async () => assert.ok((await set.owners(redis)).every(({ owner }) => owner !== null && owner !== 'r2')), SHARD_TTL_MS + 10_000);
      const takeoverMs = Date.now() - killedAt;
      process.stderr.write(`# shards of a replica killed with -9 owned again after ${takeoverMs} ms (TTL ${SHARD_TTL_MS} ms)\n`);

      await recorder.untilEnded(ids, 60_000);
      assert.deepEqual(chainViolations(recorder.messages, ids, { firstEpochs }), []);
      const reasons = new Set(ids.map((id) => recorder.ended(id)!.reason));
      assert.deepEqual([...reasons].filter((reason) => reason !== 'completed' && reason !== 'lost'), [], 'only a dead replica’s running processes end lost');
      await eventually(async () => assert.equal(await set.activeCount(redis), 0, 'nothing left active'), 5_000);
    } finally {
      await set.stopAll();
      await recorder.close();
      await redis.quit();
    }
  });

  it('fences a replica paused past its lease: the others adopt, it publishes nothing after it wakes, and it stops its own children', async () => {
    const set = replicaSet();
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const marker = `sleep 100.${process.pid}`;
    try {
      await Promise.all(['p1', 'p2', 'p3'].map((id) => set.start(id)));
      await set.untilBalanced(redis);
      const firstEpochs = new Set((await set.owners(redis)).map(({ epoch }) => epoch));
      const ids = Array.from({ length: 60 }, (_, i) => `held-${i}`);
      await redis.lpush(set.keys.queue, ...ids.map((id) => workload(id, marker.split(' '))));
      await recorder.until(() => ids.every((id) => recorder.of(id).some((m) => m.to === 'running')), 20_000, 'all running');
      const pausedEpochs = new Set((await set.owners(redis)).filter(({ owner }) => owner === 'p2').map(({ epoch }) => epoch));
      assert.ok(pausedEpochs.size > 0, 'p2 owned shards');

      await set.kill('p2', 'SIGSTOP');
      await eventually(async () => assert.ok((await set.owners(redis)).every(({ owner }) => owner !== null && owner !== 'p2')), SHARD_TTL_MS + 10_000);
      const adopted = ids.filter((id) => pausedEpochs.has(recorder.of(id).find((m) => m.to === 'running')!.epoch!));
      await recorder.untilEnded(adopted, 15_000);
      await new Promise((resolve) => setTimeout(resolve, SHARD_TTL_MS));
      const wokeAt = recorder.messages.length;
      await set.kill('p2', 'SIGCONT');
      await new Promise((resolve) => setTimeout(resolve, 1_500));

      const stale = recorder.messages.slice(wokeAt).filter((m) => m.epoch !== undefined && pausedEpochs.has(m.epoch));
      assert.deepEqual(stale, [], 'the paused replica published nothing under its old epochs');
      for (const id of adopted) assert.equal(recorder.ended(id)!.reason, 'lost', `${id}: a local process of another replica is not adopted`);
      // The woken replica rejoins and shards move back to it; a shard handed over ends its local
      // processes (lost), which no other replica could adopt. Once that settles, exactly the
      // workloads still running have a process: p2 stopped the children of the shards it lost.
      await set.untilBalanced(redis);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const running = ids.filter((id) => !recorder.ended(id));
      assert.ok(running.length > 0, 'some workloads kept running through it all');
      await eventually(() => assert.equal(processesWith(marker).length, running.length, 'the woken replica stopped its children'), 10_000);

      assert.deepEqual(chainViolations(recorder.messages, ids.filter((id) => recorder.ended(id)), { firstEpochs }), []);
    } finally {
      await set.stopAll(); // SIGTERM hands the shards over, ending their local processes
      await eventually(() => assert.equal(processesWith(marker).length, 0), 10_000).catch(() => undefined);
      for (const pid of processesWith(marker)) process.kill(Number(pid), 'SIGKILL');
      await recorder.close();
      await redis.quit();
    }
  });
});
