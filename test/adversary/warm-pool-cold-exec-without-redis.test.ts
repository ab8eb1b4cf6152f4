import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Leasehold } from '../../src/client/index.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers, uniqueId } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { text } from '../helpers/streams.js';

/**
 * Declaring a pool must not make workloads that never touched it depend on Redis for what they
 * did without one: an exec into a session that started cold is served by the replica that runs
 * it, and a Redis that stops answering (paused here) must not hold it up, as it does not without
 * pools.
 */
const servers = useServers();

describe('an exec into a cold workload beside a warm pool, while Redis does not answer (real Redis and NATS)', () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  let tp: TestPlane;
  let lh: Leasehold;

  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
    tp = await startTestPlane(servers(), { pools: [parsePoolOption('trusted:alpine:size=1')] });
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
  });
  after(async () => {
    servers().redis.process.kill('SIGCONT');
    await lh.close();
    await tp.stop();
    await recorder.close();
    await redis.quit();
  });

  it('is served at once, without a claims lookup', async () => {
    await eventually(() => assert.equal(tp.plane.pools()[0]!.ready, 1), 20_000);
    const id = uniqueId('cold');
    // Another image: no pool matches, it starts cold.
    await redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify({ id, type: 'trusted', image: 'busybox', leaseSeconds: 60 }));
    await recorder.until(() => recorder.of(id).some((m) => m.to === 'running'), 20_000, `${id} running`);
    servers().redis.process.kill('SIGSTOP');
    try {
      const exec = lh.exec(id, ['echo', 'served']);
      const timeout = new Promise<'held up'>((resolve) => setTimeout(() => resolve('held up'), 8_000).unref());
      const out = await Promise.race([text(exec.stdout), timeout]);
      assert.equal(out, 'served\n', 'the exec ran while Redis was paused');
      assert.deepEqual(await exec.result, { exitCode: 0 });
    } finally {
      servers().redis.process.kill('SIGCONT');
    }
    await lh.cancel(id);
    await recorder.untilEnded([id], 20_000);
  });
});
