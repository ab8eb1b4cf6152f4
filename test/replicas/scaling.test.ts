import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { chainViolations } from '../helpers/transition-chains.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';
import { ReplicaSet, SHARD_TTL_MS } from './replica-set.js';

const servers = useServers();
const workload = (id: string, cmd: string[]) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd });

/**
 * Replicas on the fake Kubernetes API server: a Pod outlives the replica that created it, so a
 * shard that moves takes its running workloads along (adopted), where a local process would end
 * `lost`. What a user of `kubectl scale` and `kubectl rollout restart` would check.
 */
describe('replicas on Kubernetes: scaling, rolling restarts and kill -9 during a burst', () => {
  let kube: KubeHarness;
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-scaling-'));
  before(async () => {
    kube = await startKube();
  });
  after(async () => {
    await kube.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  function replicaSet(): ReplicaSet {
    const prefix = uniquePrefix();
    return new ReplicaSet(
      [
        '--redis', servers().redis.url,
        '--nats', servers().nats.url,
        '--key-prefix', prefix,
        '--state-dir', stateDir,
        '--http-port', '0',
        '--runtime', 'kubernetes',
        '--kubeconfig', kube.kubeconfig,
        '--namespace', 'jobs',
        '--sandbox-namespace', 'sandbox',
        '--max-concurrent', 'trusted=100',
        '--grace', '500',
      ],
      prefix,
    );
  }

  /**
   * Every workload ended `completed`, each ran in exactly one Pod (a create repeated after a
   * crash is refused 409 and adopts the Pod; it makes none), and Redis holds nothing unfinished.
   */
  async function assertEachRanOnce(set: ReplicaSet, recorder: TransitionRecorder, ids: string[], firstEpochs?: ReadonlySet<number>): Promise<void> {
    assert.deepEqual(chainViolations(recorder.messages, ids, firstEpochs ? { firstEpochs } : {}), []);
    const notCompleted = ids.filter((id) => recorder.ended(id)!.reason !== 'completed').map((id) => `${id}: ${recorder.ended(id)!.reason}`);
    assert.deepEqual(notCompleted, [], 'a Pod is adopted by the next owner, never lost or run again');
    assert.deepEqual(ids.filter((id) => kube.api.createdPods(`job-${id}`) !== 1), [], 'one Pod per workload');
    const redis = redisClient(servers().redis.url);
    try {
      await eventually(async () => assert.equal(await set.activeCount(redis), 0, 'nothing left active'), 5_000);
    } finally {
      await redis.quit();
    }
  }

  it('steady state: a burst of 1,000 is shared near evenly by three replicas, each workload run once', async () => {
    const set = replicaSet();
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    try {
      // Steady state is what is measured: a shard lease long enough that a replica stalled by a
      // loaded machine (the suite runs beside it) keeps its shards, rather than losing them to a peer.
      await Promise.all(['s1', 's2', 's3'].map((id) => set.start(id, ['--shard-ttl', '10000'])));
      await set.untilBalanced(redis);
      const ownerOfEpoch = new Map((await set.owners(redis)).map(({ owner, epoch }) => [epoch, owner]));
      const ids = Array.from({ length: 1_000 }, (_, i) => `steady-${i}`);
      for (let i = 0; i < ids.length; i += 500) await redis.lpush(set.keys.queue, ...ids.slice(i, i + 500).map((id) => workload(id, ['true'])));
      await recorder.untilEnded(ids, 120_000);
      await assertEachRanOnce(set, recorder, ids);
      // Who ran each: the owner of the epoch its `running` carries (the shards did not move).
      const runs = new Map<string, number>();
      for (const id of ids) {
        const owner = ownerOfEpoch.get(recorder.of(id).find((m) => m.to === 'running')?.epoch ?? -1) ?? 'a shard that moved';
        runs.set(owner, (runs.get(owner) ?? 0) + 1);
      }
      const shares = Object.fromEntries([...runs].map(([owner, n]) => [owner, n / ids.length]));
      assert.deepEqual(Object.keys(shares).sort(), ['s1', 's2', 's3'], JSON.stringify(shares));
      for (const [owner, share] of Object.entries(shares)) assert.ok(share > 0.25 && share < 0.42, `${owner} ran ${(share * 100).toFixed(1)} % (${JSON.stringify(shares)})`);
    } finally {
      await set.stopAll();
      await recorder.close();
      await redis.quit();
    }
  });

  it('scale 1 → 3 → 1 and a rolling restart of every replica during a burst: nothing stranded, nothing run twice', async () => {
    const set = replicaSet();
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    try {
      await set.start('a');
      const ids = Array.from({ length: 240 }, (_, i) => `scale-${i}`);
      await redis.lpush(set.keys.queue, ...ids.slice(0, 120).map((id) => workload(id, ['sleep', '1'])));
      await recorder.until(() => ids.some((id) => recorder.ended(id)), 20_000, 'the first workloads ended');

      // Scale up: shards move to the newcomers by handover while workloads run.
      await Promise.all([set.start('b'), set.start('c')]);
      await set.untilBalanced(redis);
      await redis.lpush(set.keys.queue, ...ids.slice(120).map((id) => workload(id, ['sleep', '1'])));

      // A rolling restart, as a Deployment does it: a new Pod (a new replica id) up, an old one down.
      for (const [old, next] of [['a', 'a2'], ['b', 'b2'], ['c', 'c2']] as const) {
        await set.start(next);
        await set.kill(old, 'SIGTERM');
      }
      await set.untilBalanced(redis);

      // Scale down to one: the leaving replicas hand their shards over.
      await set.kill('b2', 'SIGTERM');
      await set.kill('c2', 'SIGTERM');
      await eventually(async () => assert.ok((await set.owners(redis)).every(({ owner }) => owner === 'a2')), SHARD_TTL_MS + 10_000);

      await recorder.untilEnded(ids, 60_000);
      await assertEachRanOnce(set, recorder, ids);
    } finally {
      await set.stopAll();
      await recorder.close();
      await redis.quit();
    }
  });

  it('kill -9 of one of three replicas during a burst: its Pods are adopted, every workload completes once', async () => {
    const set = replicaSet();
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    try {
      await Promise.all(['k1', 'k2', 'k3'].map((id) => set.start(id)));
      await set.untilBalanced(redis);
      const firstEpochs = new Set((await set.owners(redis)).map(({ epoch }) => epoch));
      const ids = Array.from({ length: 200 }, (_, i) => `pod-burst-${i}`);
      await redis.lpush(set.keys.queue, ...ids.map((id) => workload(id, ['sleep', '1'])));
      await recorder.until(() => ids.filter((id) => recorder.of(id).some((m) => m.to === 'running')).length >= 60, 30_000, 'a third of the burst running');

      await set.kill('k2', 'SIGKILL');
      await eventually(async () => assert.ok((await set.owners(redis)).every(({ owner }) => owner !== null && owner !== 'k2')), SHARD_TTL_MS + 10_000);

      await recorder.untilEnded(ids, 60_000);
      await assertEachRanOnce(set, recorder, ids, firstEpochs);
    } finally {
      await set.stopAll();
      await recorder.close();
      await redis.quit();
    }
  });
});
