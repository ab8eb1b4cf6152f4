import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { startNats, startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { replayTransitions } from '../../src/events/transition-history.js';
import type { TransitionMessage } from '../../src/events/transition.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient } from '../helpers/servers.js';

const workload = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] });

describe('a NATS restart in the middle of a burst', () => {
  it('loses no transition: a subscriber that comes back and replays the history sees every workload\'s tornDown', { timeout: 170_000 }, async () => {
    const natsDir = mkdtempSync(join(tmpdir(), 'leasehold-nats-restart-'));
    const redisServer = await startRedis();
    let nats: OwnedServer = await startNats({ dir: natsDir });
    const servers = { redis: redisServer, nats };
    const tp = await startTestPlane(servers, { historySeconds: 600 });
    const redis = redisClient(redisServer.url);
    const ids = Array.from({ length: 1_500 }, (_, i) => `burst-${i}`);
    try {
      for (let i = 0; i < ids.length; i += 50) await redis.lpush(tp.plane.keys.queue, ...ids.slice(i, i + 50).map(workload));
      // Mid-burst, transitions are published as fast as workloads start and end. The server stops
      // reading (a hung server, a partition, a graceful stop's shutdown), then dies: what the
      // control plane wrote meanwhile was accepted by the socket and is lost with it, and
      // nats.js only notices the loss of the connection afterwards.
      await eventually(async () => assert.equal(await ended(ids.slice(0, 50)), 50), 60_000);
      nats.process.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 500));
      await nats.kill('SIGKILL');
      nats = await startNats({ port: nats.port, dir: natsDir });
      await eventually(async () => assert.equal(await ended(), ids.length), 120_000);

      const watcher = await connect({ servers: nats.url });
      try {
        await eventually(async () => {
          const seen = new Map<string, TransitionMessage>();
          let kept = 0;
          await replayTransitions(watcher, 'workloads.*.tornDown', (t) => {
            seen.set(t.id, t);
            kept++;
          });
          const missing = ids.filter((id) => !seen.has(id));
          assert.deepEqual(missing, [], `${missing.length} of ${ids.length} tornDown transitions were lost`);
          // Sent again after the restart, each is still kept once (JetStream drops the copies).
          assert.equal(kept, ids.length, 'no transition is kept twice');
        }, 20_000);
      } finally {
        await watcher.close();
      }
    } finally {
      await tp.stop();
      await redis.quit();
      await Promise.all([redisServer.stop(), nats.stop()]);
      rmSync(natsDir, { recursive: true, force: true });
    }

    async function ended(which = ids): Promise<number> {
      const states = await Promise.all(which.map((id) => redis.hget(tp.plane.keys.workload(id), 'state')));
      return states.filter((s) => s === 'tornDown').length;
    }
  });
});
