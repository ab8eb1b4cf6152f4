import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers, uniqueId } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';

const servers = useServers();

/**
 * A pool whose image cannot be pulled (the fake API server keeps `does-not-exist` Pending in
 * ErrImagePull): its members never start. It must not make Pods in a loop, must say honestly that
 * nothing is ready, and a workload that matches it must start cold, as without the pool.
 */
describe('adversary: a warm pool whose members never start (Kubernetes runtime, fake API server)', () => {
  let kube: KubeHarness;
  let redis: Redis;
  let recorder: TransitionRecorder;
  let tp: TestPlane;
  const members = () => kube.api.list('sandbox').filter((pod) => pod.metadata.name.startsWith('job-wp-'));

  before(async () => {
    kube = await startKube();
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
    tp = await startTestPlane(servers(), {
      runtime: 'kubernetes',
      kubernetes: { kubeconfig: kube.kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' },
      pools: [parsePoolOption('untrusted:does-not-exist:size=2')],
    });
  });
  after(async () => {
    await tp.stop();
    await recorder.close();
    await redis.quit();
    await kube.stop();
  });

  it('holds its two Pods starting, counts nothing ready, and sends a matching workload cold', async () => {
    await eventually(() => assert.equal(members().length, 2), 20_000);
    const [pool] = tp.plane.pools();
    assert.deepEqual({ ready: pool!.ready, starting: pool!.starting }, { ready: 0, starting: 2 });
    const id = uniqueId('nopull');
    // A session: on Pods only sessions claim (a run stays its own Pod).
    await redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify({ id, type: 'untrusted', image: 'does-not-exist' }));
    await recorder.until(() => recorder.of(id).some((m) => m.to === 'provisioning'), 20_000, `${id} provisioning`);
    await eventually(() => assert.equal(tp.plane.pools()[0]!.misses, 1, 'a miss, not a claim of a member that is not running'), 10_000);
    assert.equal(await redis.hget(tp.plane.keys.poolClaims, id), null);
    assert.ok(kube.api.list('sandbox').some((pod) => pod.metadata.name === `job-${id}`), 'it started cold: a Pod of its own');
    // A few ticks of the pool (one a second): a pool in a loop would have made more Pods by now.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(members().length, 2, 'still the same two members: no Pod made in a loop');
    const scraped = await tp.plane.metrics.registry.metrics();
    assert.match(scraped, /leasehold_pool_members\{pool="untrusted:does-not-exist",state="ready"\} 0\n/);
    assert.match(scraped, /leasehold_pool_members\{pool="untrusted:does-not-exist",state="starting"\} 2\n/);
    await redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify({ id: `${id}-x`, type: 'untrusted', image: 'alpine', cmd: ['true'] }));
    await recorder.untilEnded([`${id}-x`], 20_000);
    assert.equal(recorder.ended(`${id}-x`)!.reason, 'completed', 'other workloads run as ever');
  });
});
