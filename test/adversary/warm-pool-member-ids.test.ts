import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import type { Redis } from 'ioredis';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Leasehold } from '../../src/client/index.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers, uniqueId } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

/**
 * A member's id is no secret from whoever runs in it (its processes carry it in their environment,
 * a Pod's hostname is `job-<id>`), so nothing may be reached by it: no status, cancel, exec or logs,
 * through the client or through raw NATS requests, for an idle member or a claimed one.
 */
const servers = useServers();

describe('warm pool members are out of reach by their ids (real Redis and NATS)', () => {
  let redis: Redis;
  let nc: NatsConnection;
  let recorder: TransitionRecorder;
  let tp: TestPlane;
  let lh: Leasehold;
  const pool = () => tp.plane.pools()[0]!;
  // As a process of this host sees them: the members' pid files name them.
  const idleMembers = () =>
    readdirSync(tp.config.stateDir, { recursive: true })
      .map((path) => basename(String(path)))
      .filter((file) => file.startsWith('wp-') && file.endsWith('.json'))
      .map((file) => file.slice(0, -'.json'.length));
  const memberOf = async (id: string) => (await redis.hget(tp.plane.keys.poolClaims, id))?.split(':')[1]?.split(' ')[0];
  const ask = async (verb: string, id: string) => JSON.parse(Buffer.from((await nc.request(`leasehold.${verb}.${id}`, '', { timeout: 5_000 })).data).toString()) as Record<string, unknown>;

  before(async () => {
    redis = redisClient(servers().redis.url);
    nc = await connect({ servers: servers().nats.url });
    recorder = await TransitionRecorder.start(servers().nats.url);
    tp = await startTestPlane(servers(), { pools: [parsePoolOption('trusted:alpine:size=2')] });
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
  });
  after(async () => {
    await lh.close();
    await tp.stop();
    await recorder.close();
    await nc.close();
    await redis.quit();
  });

  it("answers a claimed member's id, and a used one's, as no workload at every entry point", async () => {
    await eventually(() => assert.equal(pool().ready, 2), 20_000);
    const id = uniqueId('holder');
    await redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify({ id, type: 'trusted', image: 'alpine' }));
    await recorder.until(() => recorder.of(id).some((m) => m.to === 'running'), 20_000, `${id} running`);
    const member = (await memberOf(id)) ?? '';
    assert.ok(member?.startsWith('wp-'), 'the session runs in a member');

    const probe = async (when: string) => {
      assert.equal(await lh.logs(member), null, `${when}: no logs for a member (client)`);
      assert.match(String((await ask('logs', member)).error), /no workload/, `${when}: no logs for a member (raw NATS)`);
      assert.equal(await lh.status(member), null, `${when}: no status`);
      assert.equal((await ask('cancel', member)).ok, false, `${when}: no cancel`);
      await assert.rejects(lh.exec(member, ['true']).result, /no workload/, `${when}: no exec`);
    };
    await probe('claimed');
    await lh.cancel(id);
    await recorder.untilEnded([id], 20_000);
    await probe('used and torn down');
    assert.equal(recorder.messages.some((m) => m.id.startsWith('wp-')), false, 'nothing about members on NATS');
  });

  it("answers an idle member's id as no workload", async () => {
    await eventually(() => assert.equal(pool().ready, 2), 20_000);
    const [idle] = idleMembers();
    assert.ok(idle, 'an idle member');
    assert.equal(await lh.logs(idle), null);
    assert.match(String((await ask('logs', idle)).error), /no workload/);
    assert.equal(pool().ready, 2, 'and the probes took nothing from the pool');
  });
});
