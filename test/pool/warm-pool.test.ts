import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Leasehold } from '../../src/client/index.js';
import type { ControlPlaneConfig } from '../../src/config.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers, uniqueId } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';
import { text } from '../helpers/streams.js';
import { RUNTIME_FLAVOURS } from '../helpers/runtime-flavours.js';

const servers = useServers();

for (const flavour of RUNTIME_FLAVOURS) {
  describe(`a warm pool of ${flavour.many} (real Redis and NATS)`, { skip: flavour.skip }, () => {
    let redis: Redis;
    let recorder: TransitionRecorder;
    let kube: KubeHarness | null = null;
    let tp: TestPlane;
    let lh: Leasehold;
    const replicaId = uniqueId('replica');

    const start = async (pool: string, keyPrefix?: string) =>
      startTestPlane(servers(), { ...flavour.config(kube), replicaId, pools: [parsePoolOption(pool)], ...(keyPrefix ? { keyPrefix } : {}) });
    const pool = () => {
      const [only] = tp.plane.pools();
      assert.ok(only, 'the declared pool is there');
      return only;
    };
    const push = (payload: Record<string, unknown>) => redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify(payload));
    const running = (id: string) => recorder.until(() => recorder.of(id).some((m) => m.to === 'running'), 20_000, `${id} running`);
    const claimOf = (id: string) => redis.hget(tp.plane.keys.poolClaims, id);

    before(async () => {
      redis = redisClient(servers().redis.url);
      recorder = await TransitionRecorder.start(servers().nats.url);
      if (flavour.kube) kube = await startKube();
      tp = await start(`${flavour.type}:alpine:size=2`);
      lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    });
    after(async () => {
      await lh.close();
      await tp.stop();
      await kube?.stop();
      await recorder.close();
      await redis.quit();
    });

    it('fills to its size before any demand, and shows no member as a workload', async () => {
      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      assert.equal(pool().name, `${flavour.type}:alpine`);
      assert.deepEqual(tp.plane.supervisor.size, 0, 'members are not workloads');
      assert.equal(recorder.messages.length, 0, 'nothing about members on NATS');
    });

    it(flavour.kube ? 'starts a matching run cold, as its own Pod, so that it outlives a replica (restart, shard move), and ends with its exit code and output' : 'runs a matching command in a claimed member, with its env and its own workload id, and ends with its exit code and output', async () => {
      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      const hits = pool().hits;
      const id = uniqueId('run');
      await push({ id, type: flavour.type, image: 'alpine', cmd: ['sh', '-c', 'echo "id=$LEASEHOLD_WORKLOAD_ID greeting=$GREETING"; exit 3'], env: { GREETING: 'hi' } });
      await recorder.untilEnded([id], 20_000);
      if (kube) assert.equal(pool().hits, hits, 'a run on Pods is its own Pod');
      else assert.equal(pool().hits, hits + 1, 'it was a hit: started in a member, not cold');
      const end = recorder.ended(id)!;
      assert.equal(end.exitCode, 3);
      assert.equal(end.reason, 'failed');
      // The fake's kubelet simulates commands rather than run them: only a real run's output is checked.
      if (!kube) assert.match((await lh.logs(id)) ?? '', new RegExp(`id=${id} greeting=hi`));
      assert.equal(await claimOf(id), null, 'the claim is gone with the workload');
    });

    it('never hands a used member to the next workload: a second session finds nothing the first left behind', async () => {
      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      const first = uniqueId('s1');
      await push({ id: first, type: flavour.type, image: 'alpine' });
      await running(first);
      const firstMember = await claimOf(first);
      assert.ok(firstMember, 'the session runs in a member');
      assert.deepEqual(await lh.exec(first, ['sh', '-c', 'echo secret > left-behind']).result, { exitCode: 0 });
      await lh.cancel(first);
      await recorder.untilEnded([first]);

      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      const second = uniqueId('s2');
      await push({ id: second, type: flavour.type, image: 'alpine' });
      await running(second);
      const secondMember = await claimOf(second);
      assert.ok(secondMember);
      assert.notEqual(secondMember, firstMember, 'a fresh member');
      const look = lh.exec(second, ['sh', '-c', 'cat left-behind || echo clean']);
      assert.equal((await text(look.stdout)).trim(), 'clean');
      await lh.cancel(second);
      await recorder.untilEnded([second]);
      if (kube) assert.equal(kube.api.list('sandbox').some((pod) => pod.metadata.name === `job-${firstMember!.slice('session:'.length)}`), false, "the first member's Pod is gone");
    });

    it('takes each of a burst larger than the pool from it or cold, counts which, and refills in the background', async () => {
      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      const before = pool();
      const ids = Array.from({ length: 6 }, (_, i) => uniqueId(`b${i}`));
      await redis.lpush(`${tp.config.keyPrefix}workload_queue`, ...ids.map((id) => JSON.stringify({ id, type: flavour.type, image: 'alpine' })));
      for (const id of ids) await running(id);
      const after = pool();
      const claimed = (await Promise.all(ids.map(claimOf))).filter((claim) => claim !== null).length;
      assert.ok(after.hits - before.hits >= 2, 'at least the ready members were claimed');
      assert.equal(after.hits - before.hits, claimed, 'every hit runs in a member');
      assert.equal(after.misses - before.misses, ids.length - claimed, 'every other one started cold, and was counted a miss');
      const scraped = await tp.plane.metrics.registry.metrics();
      const label = `pool="${flavour.type}:alpine"`;
      assert.match(scraped, new RegExp(`leasehold_pool_claims_total\\{${label},result="hit"\\} ${after.hits}\\n`), 'hits on /metrics');
      assert.match(scraped, new RegExp(`leasehold_pool_claims_total\\{${label},result="miss"\\} ${after.misses}\\n`), 'misses on /metrics');
      assert.match(scraped, new RegExp(`leasehold_pool_members\\{${label},state="claimed"\\} ${after.inUse}\\n`), 'members in use on /metrics');
      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      for (const id of ids) await lh.cancel(id);
      await recorder.untilEnded(ids);
      await eventually(() => assert.equal(pool().inUse, 0));
    });

    it('does not take a workload that asks for something else: another image, or a run that heartbeats itself', async () => {
      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      const before = pool();
      const other = uniqueId('other');
      const selfBeat = uniqueId('selfbeat');
      await push({ id: other, type: flavour.type, image: 'busybox' });
      await push({ id: selfBeat, type: flavour.type, image: 'alpine', cmd: ['sleep', '30'], heartbeat: 'self', leaseSeconds: 30 });
      await running(other);
      await running(selfBeat);
      assert.deepEqual({ hits: pool().hits, misses: pool().misses }, { hits: before.hits, misses: before.misses });
      assert.equal(await claimOf(other), null);
      assert.equal(await claimOf(selfBeat), null);
      await lh.cancel(other);
      await lh.cancel(selfBeat);
      await recorder.untilEnded([other, selfBeat]);
    });

    it('is there again after a restart of the control plane', async () => {
      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      const session = uniqueId('kept');
      // Pods outlive the control plane, and so does a session in one; local processes do not.
      if (kube) {
        await push({ id: session, type: flavour.type, image: 'alpine', leaseSeconds: 30 });
        await running(session);
      }
      const member = kube ? await claimOf(session) : null;
      const keyPrefix = tp.config.keyPrefix;
      const podsBefore = kube ? kube.api.list('sandbox').map((pod) => pod.metadata.name).sort() : [];
      await tp.stop();
      tp = await start(`${flavour.type}:alpine:size=2`, keyPrefix);
      await eventually(() => assert.equal(pool().ready, 2), 20_000);
      if (!kube) return;
      assert.deepEqual(kube.api.list('sandbox').map((pod) => pod.metadata.name).sort(), podsBefore, 'the same Pods: idle members adopted rather than made again, the claimed one kept');
      assert.equal(await claimOf(session), member, 'the claim survives');
      await eventually(async () => {
        const echo = lh.exec(session, ['echo', 'still here']);
        const [out] = await Promise.all([text(echo.stdout), echo.result]);
        assert.equal(out, 'still here\n', 'the session claimed before the restart is reached through its member');
      }, 20_000);
      await lh.cancel(session);
      await recorder.untilEnded([session], 20_000);
    });
  });
}

describe('a warm pool that nobody claims from', () => {
  let tp: TestPlane;
  let redis: Redis;
  before(async () => {
    redis = redisClient(servers().redis.url);
    tp = await startTestPlane(servers(), { pools: [parsePoolOption('trusted:alpine:size=2:idle=2')] });
  });
  after(async () => {
    await tp.stop();
    await redis.quit();
  });

  it('shrinks to zero once idle, and grows back to its size on the next demand (a miss, started cold)', async () => {
    await eventually(() => assert.deepEqual(pick(tp.plane.pools()[0]!), { target: 0, ready: 0 }), 20_000);
    const id = uniqueId('wake');
    await redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] }));
    await eventually(() => assert.equal(tp.plane.pools()[0]!.misses, 1), 10_000);
    await eventually(() => assert.deepEqual(pick(tp.plane.pools()[0]!), { target: 2, ready: 2 }), 20_000);
  });
});

const pick = ({ target, ready }: { target: number; ready: number }) => ({ target, ready });

describe('warm pools of several replicas (Kubernetes runtime, fake API server)', () => {
  let kube: KubeHarness;
  let redis: Redis;
  before(async () => {
    kube = await startKube();
    redis = redisClient(servers().redis.url);
  });
  after(async () => {
    await kube.stop();
    await redis.quit();
  });
  const config = (replicaId: string, keyPrefix: string): Partial<ControlPlaneConfig> => ({
    runtime: 'kubernetes',
    kubernetes: { kubeconfig: kube.kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' },
    replicaId,
    keyPrefix,
    shardTtlMs: 1_000,
    poolSweepMs: 300,
    pools: [parsePoolOption('untrusted:alpine:size=2')],
  });
  const members = () => kube.api.list('sandbox').filter((pod) => pod.metadata.name.startsWith('job-wp-') && !pod.metadata.deletionTimestamp);

  it('each replica holds its own members, and a gone replica’s idle members are removed by one still alive', async () => {
    const keyPrefix = uniquePrefix();
    const a = await startTestPlane(servers(), config(uniqueId('a'), keyPrefix));
    const b = await startTestPlane(servers(), config(uniqueId('b'), keyPrefix));
    try {
      await eventually(() => assert.deepEqual([a.plane.pools()[0]!.ready, b.plane.pools()[0]!.ready], [2, 2]), 20_000);
      assert.equal(members().length, 4, 'two each: members are per replica');
      // A stops for good: its Pods stay (a restart under the same id would adopt them) until B sees it gone.
      await a.stop();
      await eventually(() => assert.equal(members().length, 2, "only B's own members are left"), 20_000);
      assert.equal(b.plane.pools()[0]!.ready, 2);
    } finally {
      await b.stop();
    }
  });
});
