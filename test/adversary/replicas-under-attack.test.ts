import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { processesWith } from '../helpers/processes.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { ReplicaSet, SHARD_TTL_MS } from '../replicas/replica-set.js';

/**
 * Attacks on a set of replicas (real `leasehold start` processes, real Redis and NATS) that got
 * through when they were written. Each is skipped, with what fails, until the fix lands.
 */
const servers = useServers();
const workload = (id: string, cmd: string[], extra: Record<string, unknown> = {}) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd, ...extra });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('replicas under attack', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-adversary-'));
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  function replicaSet(extra: string[] = []): ReplicaSet {
    const prefix = uniquePrefix();
    const args = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--state-dir', stateDir, '--http-port', '0', '--grace', '200'];
    return new ReplicaSet([...args, ...extra], prefix);
  }

  // 4 s of tiny forged nudges on leasehold.replicas.inbox (no credentials needed on a NATS
  // without auth) made both replicas lose every shard and killed all 10 running workloads: each
  // nudge started one fenced drain per owned shard, uncoalesced, and the event loop starved the
  // lease renewals. Drains are now one per shard at a time (InboxDrainer).
  it('a flood of forged inbox nudges does not cost a replica its shards or its running workloads', async () => {
    const set = replicaSet();
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const marker = `sleep 60.${process.pid}1`;
    const rogue = await connect({ servers: servers().nats.url });
    try {
      // A longer lease than the other tests: a loaded machine alone may stall a replica for a
      // second or two, and what this test looks for is what the flood does.
      await Promise.all(['n1', 'n2'].map((id) => set.start(id, ['--shard-ttl', '5000'])));
      await set.untilBalanced(redis);
      const ids = Array.from({ length: 10 }, (_, i) => `nudged-${i}`);
      await redis.lpush(set.keys.queue, ...ids.map((id) => workload(id, marker.split(' '))));
      await recorder.until(() => ids.every((id) => recorder.of(id).some((m) => m.to === 'running')), 20_000, 'all running');

      const everyShard = JSON.stringify(Array.from({ length: 64 }, (_, shard) => shard));
      const started = Date.now();
      while (Date.now() - started < 4_000) {
        for (let i = 0; i < 200; i++) rogue.publish('leasehold.replicas.inbox', everyShard);
        await rogue.flush();
      }
      await pause(2 * SHARD_TTL_MS);

      assert.equal(processesWith(marker).length, ids.length, 'every workload still runs');
      assert.deepEqual(ids.filter((id) => recorder.ended(id)), [], 'no workload ended');
      for (const replica of set.replicas.values()) assert.doesNotMatch(replica.logs(), /shard lost/, `${replica.id} kept its shards`);
    } finally {
      await rogue.close();
      await set.stopAll();
      await recorder.close();
      await redis.quit();
    }
  });

  // FAILS, in part: Redis paused for 0.8 × TTL (CLIENT PAUSE, as a slow fsync or a failover
  // would) made every replica fence itself and kill its local processes: 10 of 10 running
  // workloads ended `lost`. A self-fenced replica now leaves them running and adopts them when it
  // takes its shard back (in runs, 3 to 9 of 10 survive, and all in some), but after a stall that
  // every replica saw, the shards are balanced afresh and may go to another replica, which ends
  // them `lost`. Fix to come: let a shard's previous holder retake it first for a short grace
  // (acquire.lua), so that a shared stall moves nothing.
  void it.skip('a Redis stall shared by every replica does not end running local workloads', async () => {
    const set = replicaSet();
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const marker = `sleep 60.${process.pid}2`;
    try {
      await Promise.all(['s1', 's2'].map((id) => set.start(id)));
      await set.untilBalanced(redis);
      const ids = Array.from({ length: 10 }, (_, i) => `stalled-${i}`);
      await redis.lpush(set.keys.queue, ...ids.map((id) => workload(id, marker.split(' '))));
      await recorder.until(() => ids.every((id) => recorder.of(id).some((m) => m.to === 'running')), 20_000, 'all running');

      await redis.call('CLIENT', 'PAUSE', String(Math.round(0.8 * SHARD_TTL_MS)), 'ALL');
      await pause(0.8 * SHARD_TTL_MS + 3 * SHARD_TTL_MS);

      assert.equal(processesWith(marker).length, ids.length, 'every workload still runs');
      assert.deepEqual(ids.filter((id) => recorder.ended(id)).map((id) => `${id}: ${recorder.ended(id)!.reason}`), [], 'no workload ended');
    } finally {
      await set.stopAll();
      await recorder.close();
      await redis.quit();
    }
  });

  // FAILS: after Redis lost its data (restart without persistence; simulated with FLUSHALL), a
  // replica that starts writes a new heartbeat secret while the running ones keep theirs in
  // memory: a token one replica handed out is refused (401) by the other, so a self-heartbeating
  // workload behind a Service loses half its heartbeats.
  void it.skip('every replica accepts the heartbeat tokens any replica handed out, even after Redis lost its data', async () => {
    const set = replicaSet();
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    try {
      await set.start('h1');
      const firstSecret = await redis.get(`${set.prefix}leasehold:secret`);
      assert.ok(firstSecret);
      await redis.flushall();
      const h2 = await set.start('h2');
      await set.untilBalanced(redis);
      const port = Number(/"http":(\d+)/.exec(h2.logs())?.[1]);

      // A workload owned by h1, so that its token was minted with h1's secret.
      const owners = await set.owners(redis);
      let id = '';
      for (let n = 0; !id; n++) if (owners[set.keys.shardOf(`beater-${n}`)]?.owner === 'h1') id = `beater-${n}`;
      await redis.lpush(set.keys.queue, workload(id, ['sleep', '30'], { heartbeat: 'self', leaseSeconds: 30 }));
      await recorder.until(() => recorder.of(id).some((m) => m.to === 'running'), 20_000, 'running');
      const run = await redis.hget(set.keys.workload(id), 'run');
      const token = `${run}.${createHmac('sha256', firstSecret).update(`${id}\n${run}`).digest('base64url')}`;

      const answer = await fetch(`http://127.0.0.1:${port}/v1/workloads/${id}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(answer.status, 204, 'h2 renews the lease of a workload h1 handed the token to');
    } finally {
      await set.stopAll();
      await recorder.close();
      await redis.quit();
    }
  });

  // With --max-pending 20, a replica owning a hot shard held 298 queued workloads and the queue
  // was drained to 0: peers record whatever they pop into the owner's inbox whatever the owner's
  // capacity, and the inbox was taken whole. The owner now takes no more than it has room for.
  it('backpressure holds across replicas: an owner of a hot shard never holds more than --max-pending waiting workloads', async () => {
    const set = replicaSet(['--max-concurrent', 'trusted=2', '--max-pending', '20']);
    const redis = redisClient(servers().redis.url);
    try {
      const [, owner] = await Promise.all(['k1', 'k2'].map((id) => set.start(id)));
      await set.untilBalanced(redis);
      const target = (await set.owners(redis)).findIndex(({ owner: o }) => o === 'k2');
      const hot: string[] = [];
      for (let n = 0; hot.length < 300; n++) if (set.keys.shardOf(`hot-${n}`) === target) hot.push(`hot-${n}`);
      await redis.lpush(set.keys.queue, ...hot.map((id) => workload(id, ['sleep', '5'])));
      await pause(4_000);

      const port = Number(/"http":(\d+)/.exec(owner!.logs())?.[1]);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const queued = Number(/^leasehold_workloads\{state="queued",type="trusted"\} (\d+)/m.exec(metrics)?.[1]);
      assert.ok(queued <= 20 + 64, `the owner holds ${queued} queued workloads`);
      // Peers with room still pop the queue and record into the owner's inbox: the rest waits in
      // Redis, in one list or the other, not in the owner's memory.
      const waiting = (await redis.llen(set.keys.queue)) + (await redis.llen(set.keys.shard(target).inbox));
      assert.ok(waiting >= hot.length - 20 - 64 - 2, `the rest waits in Redis (${waiting})`);
    } finally {
      await set.stopAll();
      await redis.quit();
    }
  });
});
