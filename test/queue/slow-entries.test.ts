import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBatch } from '../../src/queue/parse-batch.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers } from '../helpers/servers.js';

const servers = useServers();

describe('queue entries slow to validate', () => {
  it('200 entries with 30,000 numbers in cmd are refused without a bystander\'s 5 s lease lapsing', { timeout: 150_000 }, async () => {
    const tp = await startTestPlane(servers(), { teardownGraceMs: 200 });
    const redis = redisClient(servers().redis.url);
    const keys = tp.plane.keys;
    try {
      await redis.lpush(keys.queue, JSON.stringify({ id: 'bystander', type: 'trusted', image: 'alpine', cmd: ['sleep', '60'], leaseSeconds: 5 }));
      await eventually(async () => assert.equal(await redis.hget(keys.workload('bystander'), 'state'), 'running'), 15_000);

      // The attack as found: each entry under the 64 KiB limit, each 100 ms or more of schema work.
      const slow = JSON.stringify({ id: 'x', type: 'trusted', image: 'a', cmd: Array(30_000).fill(1) });
      await redis.lpush(keys.queue, ...Array<string>(200).fill(slow));
      await eventually(async () => assert.equal(await redis.llen(keys.dead), 200), 120_000);
      // The reaper runs every 100 ms here: a lease that lapsed during the stall is reaped by now.
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      const status = await tp.plane.supervisor.status('bystander');
      assert.equal(status?.state, 'running', `the bystander was torn down: ${status?.reason}`);
      const letter = JSON.parse((await redis.lindex(keys.dead, 0))!) as { reason: string };
      assert.equal(letter.reason, 'cmd: at most 4096 arguments (got 30000)');
    } finally {
      await tp.plane.supervisor.cancel('bystander');
      await eventually(async () => assert.equal(await redis.hget(keys.workload('bystander'), 'state'), 'tornDown'), 15_000);
      await tp.stop();
      await redis.quit();
    }
  });

  it('a batch is validated in slices: a timer due meanwhile runs before the whole batch is done', async () => {
    // Entries the size bounds let through to the schema, each still a few milliseconds of work.
    const costly = JSON.stringify({ id: 'x', type: 'trusted', image: 'a', cmd: ['a'], env: Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`-bad${i}`, ''])) });
    let timerRan = false;
    let timerRanBeforeTheEnd = false;
    setTimeout(() => (timerRan = true), 0);
    const results = await parseBatch(Array<string>(100).fill(costly), 64 * 1024, 5).then((r) => {
      timerRanBeforeTheEnd = timerRan;
      return r;
    });
    assert.equal(results.length, 100);
    assert.ok(results.every((r) => !r.parsed.ok));
    assert.ok(timerRanBeforeTheEnd, 'the event loop ran a timer while the batch was being validated');
  });
});
