import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNats, type OwnedServer } from '../../src/dev/servers.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();
const workload = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] });

describe('a NATS outage', () => {
  let revived: OwnedServer | null = null;
  after(() => revived?.stop());

  it('neither stops nor crashes the lifecycle, and events flow again when NATS is back', async () => {
    const redis = redisClient(servers().redis.url);
    const tp = await startTestPlane(servers());
    const { plane } = tp;
    try {
      await servers().nats.kill('SIGKILL');
      await redis.lpush(plane.keys.queue, workload('dark-1'), workload('dark-2'), workload('dark-3'));
      for (const id of ['dark-1', 'dark-2', 'dark-3']) {
        for (let i = 0; (await redis.hget(plane.keys.workload(id), 'state')) !== 'tornDown'; i++) {
          assert.ok(i < 500, `${id} did not finish while NATS was down`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      // Still ready: it takes new work without NATS, and a Service must keep sending it heartbeats.
      const readiness = await fetch(`http://127.0.0.1:${plane.httpPort}/readyz`);
      assert.equal(readiness.status, 200);
      assert.deepEqual(((await readiness.json()) as { checks: unknown }).checks, { redis: true, nats: false, intake: true });
      assert.match(await (await fetch(`http://127.0.0.1:${plane.httpPort}/metrics`)).text(), /^leasehold_nats_connected 0$/m, 'the outage shows on /metrics');

      revived = await startNats({ port: servers().nats.port });
      const recorder = await TransitionRecorder.start(revived.url);
      try {
        for (let i = 0; !/^leasehold_nats_connected 1$/m.test(await (await fetch(`http://127.0.0.1:${plane.httpPort}/metrics`)).text()); i++) {
          assert.ok(i < 500, 'the control plane did not reconnect to NATS');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await redis.lpush(plane.keys.queue, workload('bright-1'));
        await recorder.untilEnded(['bright-1'], 20_000);
        assert.deepEqual(
          recorder.of('bright-1').map((m) => m.to),
          ['queued', 'provisioning', 'running', 'expiring', 'tornDown'],
        );
      } finally {
        await recorder.close();
      }
    } finally {
      await tp.stop();
      await redis.quit();
    }
  });
});
