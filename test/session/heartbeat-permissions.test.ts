import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Leasehold, NatsPermissionError } from '../../src/client/index.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, type Servers } from '../helpers/servers.js';
import { secret, startShippedServers } from '../security/nats-fixtures.js';

const passwords = { controlPlane: secret('control-plane'), operator: secret('operator'), watcher: secret('watcher') };
const operator = { user: 'leasehold-operator', password: passwords.operator };
const watcher = { user: 'leasehold-watcher', password: passwords.watcher };

describe('session heartbeats over NATS under the shipped permissions (manifests/nats.conf), two replicas', () => {
  let servers: Servers;
  let redis: Redis;
  const planes: TestPlane[] = [];
  const keyPrefix = uniquePrefix();

  before(async () => {
    servers = await startShippedServers(passwords);
    for (const replicaId of ['hb-r1', 'hb-r2']) {
      planes.push(await startTestPlane(servers, { keyPrefix, replicaId, shardTtlMs: 2_000, natsAuth: { user: 'leasehold-control-plane', password: passwords.controlPlane } }));
    }
    redis = redisClient(servers.redis.url);
  });
  after(async () => {
    for (const tp of planes) await tp.stop();
    await redis.quit();
    await Promise.all([servers.redis.stop(), servers.nats.stop()]);
  });

  it("keeps an operator's sessions on either replica alive through whichever replica answers, and refuses a watcher", async () => {
    const [one, two] = planes as [TestPlane, TestPlane];
    await eventually(() => assert.ok(one.plane.ownership.owned().size > 0 && two.plane.ownership.owned().size > 0 && one.plane.ownership.owned().size + two.plane.ownership.owned().size === 64), 20_000);
    const ownedBy = (tp: TestPlane) => Array.from({ length: 200 }, (_, i) => `hb-${i}`).find((id) => tp.plane.ownership.owned().has(one.plane.keys.shardOf(id)))!;
    const ids = [ownedBy(one), ownedBy(two)];
    await redis.lpush(one.plane.keys.queue, ...ids.map((id) => JSON.stringify({ id, type: 'trusted', image: 'alpine', leaseSeconds: 1 })));

    await using ops = await Leasehold.connect({ redis: servers.redis.url, nats: servers.nats.url, natsAuth: operator, keyPrefix });
    await eventually(async () => assert.deepEqual((await Promise.all(ids.map((id) => ops.status(id)))).map((s) => s?.state), ['running', 'running']), 20_000);
    // Four leases of 1 s long; each heartbeat reaches one replica of the queue group, the owner or not.
    for (let i = 0; i < 16; i++) {
      await Promise.all(ids.map((id) => ops.heartbeat(id)));
      await sleep(250);
    }
    assert.deepEqual((await Promise.all(ids.map((id) => ops.status(id)))).map((s) => s?.state), ['running', 'running'], 'heartbeats kept both');

    await using watching = await Leasehold.connect({ redis: servers.redis.url, nats: servers.nats.url, natsAuth: watcher, keyPrefix });
    await assert.rejects(watching.heartbeat(ids[0]!), (error: unknown) => error instanceof NatsPermissionError && error.operation === 'publish');
    for (const id of ids) await ops.cancel(id);
  });
});
