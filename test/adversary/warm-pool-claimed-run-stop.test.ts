import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Leasehold } from '../../src/client/index.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers, uniqueId } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { LOCAL_FLAVOURS } from '../helpers/runtime-flavours.js';

/**
 * A cancelled run is asked to stop (SIGTERM) and given the grace period before it is killed, so
 * that it can save its work or say goodbye; a run that claimed a warm pool member must be treated
 * the same as one started cold.
 */
const servers = useServers();
const GRACEFUL = ['sh', '-c', 'trap "echo stopping cleanly; exit 0" TERM; echo started; sleep 60 & wait'];

for (const flavour of LOCAL_FLAVOURS) {
  describe(`a cancelled run in a warm pool member of ${flavour.many} (real Redis and NATS)`, { skip: flavour.skip }, () => {
    let redis: Redis;
    let recorder: TransitionRecorder;
    let tp: TestPlane;
    let lh: Leasehold;
    const pool = () => tp.plane.pools()[0]!;

    before(async () => {
      redis = redisClient(servers().redis.url);
      recorder = await TransitionRecorder.start(servers().nats.url);
      tp = await startTestPlane(servers(), { pools: [parsePoolOption(`${flavour.type}:alpine:size=1`)], teardownGraceMs: 5_000 });
      lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    });
    after(async () => {
      await lh.close();
      await tp.stop();
      await recorder.close();
      await redis.quit();
    });

    const cancelled = async (image: string) => {
      const id = uniqueId('graceful');
      await redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify({ id, type: flavour.type, image, cmd: GRACEFUL }));
      await recorder.until(() => recorder.of(id).some((m) => m.to === 'running'), 20_000, `${id} running`);
      await eventually(async () => assert.match((await lh.logs(id)) ?? '', /started/), 10_000);
      await lh.cancel(id);
      await recorder.untilEnded([id], 20_000);
      return (await lh.logs(id)) ?? '';
    };

    it('is asked to stop, as a cold one is, before it is killed', async () => {
      // Cold in bubblewrap, the SIGTERM to the sandbox's process group also reaches bwrap's own
      // init, whose end takes the namespace down with SIGKILL, racing the trap (README, Warm pools,
      // "Not yet"): only a local process's cold stop is a baseline to hold the claimed one to.
      const cold = await cancelled('busybox');
      if (flavour.type === 'trusted') assert.match(cold, /stopping cleanly/, 'cold: SIGTERM, then the grace period');
      await eventually(() => assert.equal(pool().ready, 1), 20_000);
      const hits = pool().hits;
      const claimedLogs = await cancelled('alpine');
      assert.equal(pool().hits, hits + 1, 'the second one ran in a member');
      assert.match(claimedLogs, /stopping cleanly/, 'claimed: SIGTERM, then the grace period, too');
    });
  });
}
