import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlane } from '../helpers/control-plane.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();
const workload = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] });

describe('intake under connection faults', () => {
  it('keeps consuming after its blocked connection is killed mid-BLMOVE', async () => {
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const tp = await startTestPlane(servers(), { consumer: 'faulty' });
    try {
      await redis.lpush(tp.plane.keys.queue, workload('before-kill'));
      await recorder.untilEnded(['before-kill']);
      // Find the connection parked in BLMOVE and kill it, as a network fault or a proxy would.
      let killed = 0;
      for (let i = 0; killed === 0 && i < 100; i++) {
        const clients = (await redis.client('LIST')) as string;
        for (const line of clients.split('\n').filter((l) => l.includes('cmd=blmove'))) {
          await redis.client('KILL', 'ID', /id=(\d+)/.exec(line)![1]!);
          killed++;
        }
        if (killed === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(killed, 1, 'intake was blocked in BLMOVE');
      await redis.lpush(tp.plane.keys.queue, workload('after-kill'));
      await recorder.untilEnded(['after-kill'], 15_000);
      assert.equal(recorder.ended('after-kill')!.reason, 'completed');
      assert.equal(await redis.llen(tp.plane.keys.processing('faulty')), 0);
    } finally {
      await tp.stop();
      await recorder.close();
      await redis.quit();
    }
  });
});
