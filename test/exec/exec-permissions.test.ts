import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ExecFailedError, Leasehold, NatsPermissionError } from '../../src/client/index.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, type Servers } from '../helpers/servers.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';
import { runCliWithin, secret, startShippedServers } from '../security/nats-fixtures.js';

const passwords = { controlPlane: secret('control-plane'), operator: secret('operator'), watcher: secret('watcher') };
const operator = { user: 'leasehold-operator', password: passwords.operator };
const watcher = { user: 'leasehold-watcher', password: passwords.watcher };

describe('exec under the shipped NATS permissions (manifests/nats.conf), two replicas', () => {
  let servers: Servers;
  let kube: KubeHarness;
  let redis: Redis;
  const planes: TestPlane[] = [];
  const keyPrefix = uniquePrefix();

  before(async () => {
    servers = await startShippedServers(passwords);
    kube = await startKube();
    for (const replicaId of ['perm-r1', 'perm-r2']) {
      planes.push(
        await startTestPlane(servers, {
          keyPrefix,
          replicaId,
          shardTtlMs: 2_000,
          natsAuth: { user: 'leasehold-control-plane', password: passwords.controlPlane },
          runtime: 'kubernetes',
          kubernetes: { kubeconfig: kube.kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' },
        }),
      );
    }
    redis = redisClient(servers.redis.url);
  });
  after(async () => {
    for (const tp of planes) await tp.stop();
    await kube.stop();
    await redis.quit();
    await Promise.all([servers.redis.stop(), servers.nats.stop()]);
  });

  it('lets an operator exec into workloads of either replica (forwarded to the owner), and refuses a watcher', async () => {
    const [one, two] = planes as [TestPlane, TestPlane];
    await eventually(() => assert.ok(one.plane.ownership.owned().size > 0 && two.plane.ownership.owned().size > 0 && one.plane.ownership.owned().size + two.plane.ownership.owned().size === 64), 20_000);
    const ownedBy = (tp: TestPlane) => Array.from({ length: 200 }, (_, i) => `perm-${i}`).filter((id) => tp.plane.ownership.owned().has(one.plane.keys.shardOf(id))).slice(0, 2);
    const ids = [...ownedBy(one), ...ownedBy(two)];
    await redis.lpush(one.plane.keys.queue, ...ids.map((id) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['sleep', '3600'], env: { WHO: id } })));

    await using ops = await Leasehold.connect({ redis: servers.redis.url, nats: servers.nats.url, natsAuth: operator, keyPrefix });
    await eventually(async () => assert.deepEqual((await Promise.all(ids.map((id) => ops.status(id)))).map((s) => s?.state), ids.map(() => 'running')), 20_000);
    for (let round = 0; round < 4; round++) {
      for (const id of ids) {
        const run = ops.exec(id, ['sh', '-c', 'echo $WHO']);
        let out = '';
        for await (const chunk of run.stdout) out += Buffer.from(chunk).toString();
        assert.deepEqual([out, await run.result], [`${id}\n`, { exitCode: 0 }], `operator exec into ${id}`);
      }
    }

    await using watching = await Leasehold.connect({ redis: servers.redis.url, nats: servers.nats.url, natsAuth: watcher, keyPrefix });
    await assert.rejects(watching.exec(ids[0]!, ['true']).result, (error: unknown) => error instanceof NatsPermissionError && !(error instanceof ExecFailedError));
    const cli = await runCliWithin(30_000, ['exec', '--nats', servers.nats.url, ids[0]!, '--', 'true'], { NATS_USER: watcher.user, NATS_PASSWORD: watcher.password });
    assert.equal(cli.code, 125, cli.stderr);
    assert.match(cli.stderr, /NATS refused this identity permission to publish on leasehold\.exec\./);
  });
});
