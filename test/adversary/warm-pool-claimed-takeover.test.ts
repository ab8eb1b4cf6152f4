import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Leasehold } from '../../src/client/index.js';
import type { ControlPlaneConfig } from '../../src/config.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers, uniqueId } from '../helpers/servers.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';
import { text } from '../helpers/streams.js';

const servers = useServers();

/**
 * A session claimed on one replica, whose replica then stops for good: the replica that takes its
 * shard over (and sweeps the gone replica's members) must keep the claimed member, reach it, count
 * it in use, and remove it with the session, leaving no claim behind.
 */
describe('adversary: a claimed session whose replica stops (Kubernetes runtime, fake API server)', () => {
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
    pools: [parsePoolOption('untrusted:alpine:size=1')],
  });
  const pods = () => kube.api.list('sandbox').filter((pod) => !pod.metadata.deletionTimestamp).map((pod) => pod.metadata.name);

  it('is kept, reached and counted by the replica that takes it over, and removed with it', async () => {
    const keyPrefix = uniquePrefix();
    const a = await startTestPlane(servers(), config(uniqueId('a'), keyPrefix));
    let b: Awaited<ReturnType<typeof startTestPlane>> | null = null;
    let aStopped = false;
    const lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix });
    try {
      await eventually(() => assert.equal(a.plane.pools()[0]!.ready, 1), 20_000);
      b = await startTestPlane(servers(), config(uniqueId('b'), keyPrefix));
      await eventually(() => assert.equal(b!.plane.pools()[0]!.ready, 1), 20_000);
      // A session in A's shards: submitted until one lands there and claims one of A's members.
      let id = '';
      let member = '';
      for (let i = 0; i < 40; i++) {
        const candidate = uniqueId(`s${i}`);
        await redis.lpush(`${keyPrefix}workload_queue`, JSON.stringify({ id: candidate, type: 'untrusted', image: 'alpine', leaseSeconds: 60, heartbeat: 'runtime' }));
        await eventually(async () => assert.equal((await lh.status(candidate))?.state, 'running'), 20_000);
        if (a.plane.supervisor.size > 0) {
          id = candidate;
          member = (await redis.hget(a.plane.keys.poolClaims, candidate))?.split(' ')[0]?.split(':')[1] ?? '';
          break;
        }
        await eventually(async () => void (await lh.cancel(candidate)), 20_000); // refused while shards move: try again, as it says
      }
      assert.ok(member.startsWith('wp-'), 'a session on A claimed one of its members');
      // Shards may still be moving to B, which just joined: MOVING says to try again.
      await eventually(async () => assert.deepEqual(await lh.exec(id, ['true']).result, { exitCode: 0 }), 20_000);

      await a.stop();
      aStopped = true;
      await eventually(async () => assert.equal(b!.plane.supervisor.size, 1, 'B took the session over'), 20_000);
      // Several of B's sweeps: A's idle member goes, the claimed one stays.
      await eventually(() => assert.equal(pods().filter((name) => name.startsWith('job-wp-')).length, 2, "A's idle member removed: B's own and the claimed one left"), 20_000);
      assert.ok(pods().includes(`job-${member}`), 'the claimed member is kept');
      await eventually(async () => {
        const echo = lh.exec(id, ['echo', 'still here']);
        const [out] = await Promise.all([text(echo.stdout), echo.result]);
        assert.equal(out, 'still here\n', 'reached through B');
      }, 20_000);
      assert.equal(b.plane.pools()[0]!.inUse, 1, 'counted in use by B');

      await eventually(async () => void (await lh.cancel(id)), 20_000);
      await eventually(async () => assert.equal((await lh.status(id))?.state, 'tornDown'), 20_000);
      await eventually(() => assert.equal(pods().includes(`job-${member}`), false, 'the member goes with the session'), 20_000);
      assert.equal(await redis.hget(b.plane.keys.poolClaims, id), null, 'no claim left');
      assert.equal(b.plane.pools()[0]!.inUse, 0, 'no longer in use');
    } finally {
      await lh.close();
      await b?.stop();
      if (!aStopped) await a.stop();
    }
  });
});
