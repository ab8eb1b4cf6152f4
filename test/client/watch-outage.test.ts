import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Leasehold, type TransitionMessage, type TransitionWatch } from '../../src/index.js';
import { startNats, startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient } from '../helpers/servers.js';

const WAVE = 100;
const OUTAGE_MS = 20_000;
const payload = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['sleep', '1'] });

describe('a watch that loses its NATS connection while transitions flow', () => {
  it('resumes from the JetStream history: after a 20 s NATS outage every transition is delivered exactly once, in order per workload', { timeout: 240_000 }, async () => {
    const natsDir = mkdtempSync(join(tmpdir(), 'leasehold-client-outage-'));
    const redisServer = await startRedis();
    let nats: OwnedServer = await startNats({ dir: natsDir });
    const tp = await startTestPlane({ redis: redisServer, nats }, { historySeconds: 600 });
    const redis = redisClient(redisServer.url);
    const client = await Leasehold.connect({ redis: redisServer.url, nats: nats.url, keyPrefix: tp.config.keyPrefix });
    const ids = Array.from({ length: 3 * WAVE }, (_, i) => `outage-${i}`);
    const withHistory = collect(client.watch());
    const live = collect(client.watch(undefined, { history: 'off' }));
    try {
      assert.deepEqual(await withHistory.watch.ready, { history: true });
      await live.watch.ready;
      const push = (wave: string[]) => redis.lpush(tp.plane.keys.queue, ...wave.map(payload));
      await push(ids.slice(0, WAVE));
      await eventually(() => assert.ok(withHistory.ended() >= WAVE / 4), 60_000);

      // The server stops reading (hung, partitioned), then dies; workloads go on starting and
      // ending meanwhile, their transitions held by the control plane until NATS is back.
      nats.process.kill('SIGSTOP');
      await push(ids.slice(WAVE, 2 * WAVE));
      await new Promise((resolve) => setTimeout(resolve, 500));
      await nats.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
      nats = await startNats({ port: nats.port, dir: natsDir });
      await push(ids.slice(2 * WAVE));

      await eventually(() => assert.equal(withHistory.ended(), ids.length, `${withHistory.ended()} of ${ids.length} tornDown seen`), 120_000);
      const problems = ids.flatMap((id) => {
        const seqs = withHistory.byId.get(id)?.map((t) => t.seq) ?? [];
        return seqs.join(',') === '1,2,3,4,5' ? [] : [`${id}: ${seqs.join(',')}`];
      });
      assert.deepEqual(problems, [], 'each workload: queued, provisioning, running, expiring, tornDown, once each, in order');
      const missedLive = ids.length * 5 - [...live.byId.values()].reduce((sum, list) => sum + list.length, 0);
      // What a live-only watcher missed, for the report: the reason the history watch exists.
      process.stderr.write(`# a live (core NATS) watch missed ${missedLive} of ${ids.length * 5} transitions\n`);
    } finally {
      await client.close();
      await Promise.all([withHistory.done, live.done]);
      await tp.stop();
      await redis.quit();
      await Promise.all([redisServer.stop(), nats.stop()]);
      rmSync(natsDir, { recursive: true, force: true });
    }
  });
});

function collect(watch: TransitionWatch) {
  const byId = new Map<string, TransitionMessage[]>();
  let ended = 0;
  const done = (async () => {
    for await (const t of watch) {
      const list = byId.get(t.id) ?? [];
      list.push(t);
      byId.set(t.id, list);
      if (t.to === 'tornDown') ended++;
    }
  })();
  return { watch, byId, done, ended: () => ended };
}
