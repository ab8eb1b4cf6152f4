import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Leasehold } from '../../src/client/index.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers, uniqueId } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';
import { text } from '../helpers/streams.js';
import { RUNTIME_FLAVOURS } from '../helpers/runtime-flavours.js';

/**
 * A session that claims a warm pool member must look, from inside, exactly like a session started
 * cold: its own workload id (never the member's `wp-…`), and the env its spec asked for. A member
 * is made before the session exists, with neither.
 */
const servers = useServers();

for (const flavour of RUNTIME_FLAVOURS) {
  describe(`a session claimed from a warm pool of ${flavour.many} (real Redis and NATS)`, { skip: flavour.skip }, () => {
    let redis: Redis;
    let recorder: TransitionRecorder;
    let tp: TestPlane;
    let lh: Leasehold;
    let kube: KubeHarness | null = null;
    const pool = () => tp.plane.pools()[0]!;
    const push = (payload: Record<string, unknown>) => redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify(payload));
    const running = (id: string) => recorder.until(() => recorder.of(id).some((m) => m.to === 'running'), 20_000, `${id} running`);
    const envOf = async (id: string) => {
      const exec = lh.exec(id, ['env']);
      const [out, result] = await Promise.all([text(exec.stdout), exec.result]);
      assert.deepEqual(result, { exitCode: 0 });
      return out;
    };

    before(async () => {
      redis = redisClient(servers().redis.url);
      recorder = await TransitionRecorder.start(servers().nats.url);
      if (flavour.kube) kube = await startKube();
      tp = await startTestPlane(servers(), { ...flavour.config(kube), replicaId: uniqueId('replica'), pools: [parsePoolOption(`${flavour.type}:alpine:size=1`)] });
      lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    });
    after(async () => {
      await lh.close();
      await tp.stop();
      await kube?.stop();
      await recorder.close();
      await redis.quit();
    });

    it("gives every exec the session's own LEASEHOLD_WORKLOAD_ID, never the member's wp- id", async () => {
      await eventually(() => assert.equal(pool().ready, 1), 20_000);
      const hits = pool().hits;
      const id = uniqueId('sess');
      await push({ id, type: flavour.type, image: 'alpine' });
      await running(id);
      assert.equal(pool().hits, hits + 1, 'the session claimed a member');
      const env = await envOf(id);
      assert.match(env, new RegExp(`^LEASEHOLD_WORKLOAD_ID=${id}$`, 'm'), 'its own id, as a cold session has');
      // A Pod keeps the name it was made with (job-wp-…, its hostname): only the id is the workload's there.
      if (!flavour.kube) assert.doesNotMatch(env, /wp-/, "nothing of the member's id");
      await lh.cancel(id);
      await recorder.untilEnded([id], 20_000);
    });

    it('gives every exec the env the session was submitted with, as a cold session has', async () => {
      await eventually(() => assert.equal(pool().ready, 1), 20_000);
      const id = uniqueId('envsess');
      await push({ id, type: flavour.type, image: 'alpine', env: { GREETING: 'hello from the spec', ODD: 'a b "c" \\ $HOME' }, leaseSeconds: 30 });
      await running(id);
      const env = await envOf(id);
      assert.match(env, /^GREETING=hello from the spec$/m);
      assert.ok(env.includes('ODD=a b "c" \\ $HOME\n'), 'values as written');
      if (kube) {
        // A Pod outlives the control plane, and so does the session in it: the next one has its env too.
        const keyPrefix = tp.config.keyPrefix;
        await tp.stop();
        tp = await startTestPlane(servers(), { ...flavour.config(kube), keyPrefix, replicaId: tp.config.replicaId, pools: [parsePoolOption(`${flavour.type}:alpine:size=1`)] });
        const again = await envOf(id);
        assert.match(again, /^GREETING=hello from the spec$/m, 'after a restart');
        assert.match(again, new RegExp(`^LEASEHOLD_WORKLOAD_ID=${id}$`, 'm'), 'after a restart');
      }
      await lh.cancel(id);
      await recorder.untilEnded([id], 20_000);
    });
  });
}
