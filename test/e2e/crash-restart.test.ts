import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeys } from '../../src/keys.js';
import { activeCount } from '../helpers/active-count.js';
import { startCliControlPlane } from '../helpers/cli.js';
import { processesWith } from '../helpers/processes.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();
const workload = (id: string, cmd: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd });

describe('kill -9 of the control plane, then a restart', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-crash-'));
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  it('brings every workload to tornDown, provisions none twice, and leaves no process behind', async () => {
    const prefix = uniquePrefix();
    const args = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--state-dir', stateDir];
    const planeArgs = [...args, '--http-port', '0', '--consumer', 'crashy', '--max-concurrent', 'trusted=2', '--grace', '2000'];
    const stubborn = `sleep 61.${process.pid}`;
    const runner = `sleep 62.${process.pid}`;
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const first = await startCliControlPlane(planeArgs);
    try {
      const queue = `${prefix}workload_queue`;
      await redis.lpush(queue, workload('stubborn', `trap '' TERM; ${stubborn}`), workload('runner', runner));
      await redis.lpush(queue, workload('waiting-1', 'true'), workload('waiting-2', 'true'));
      await recorder.until(
        () => recorder.of('runner').some((m) => m.to === 'running') && recorder.of('stubborn').some((m) => m.to === 'running'),
        10_000,
        'both running',
      );
      await recorder.nc.request(`leasehold.cancel.stubborn`, '', { timeout: 2_000 });
      await recorder.until(() => recorder.of('stubborn').some((m) => m.to === 'expiring'), 10_000, 'stubborn expiring');
      await recorder.until(() => recorder.of('waiting-2').length === 1, 10_000, 'waiting-2 queued');
      // expiring, running, queued, queued: now the control plane dies without a word.
      first.child.kill('SIGKILL');
      await first.exited;
      assert.equal(processesWith(stubborn).length, 1, 'workloads outlive a crashed control plane');
      assert.equal(processesWith(runner).length, 1);
      await redis.lpush(queue, workload('pushed-while-down', 'true'));

      const second = await startCliControlPlane(planeArgs);
      try {
        const ids = ['stubborn', 'runner', 'waiting-1', 'waiting-2', 'pushed-while-down'];
        await recorder.untilEnded(ids, 20_000);
        assert.equal(recorder.ended('stubborn')!.reason, 'cancelled');
        assert.equal(recorder.ended('runner')!.reason, 'lost');
        for (const id of ['waiting-1', 'waiting-2', 'pushed-while-down']) assert.equal(recorder.ended(id)!.reason, 'completed', id);
        for (const id of ids) {
          assert.equal(recorder.of(id).filter((m) => m.to === 'provisioning').length, 1, `${id} provisioned exactly once`);
          const seqs = recorder.of(id).map((m) => m.seq);
          assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${id}: seq increases across the restart`);
        }
        assert.deepEqual(processesWith(stubborn), []);
        assert.deepEqual(processesWith(runner), []);
        assert.equal(await activeCount(redis, createKeys(prefix)), 0);
        assert.equal(await redis.llen(createKeys(prefix).processing('crashy')), 0);
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
      for (const marker of [stubborn, runner]) for (const pid of processesWith(marker)) process.kill(Number(pid), 'SIGKILL');
      await recorder.close();
      await redis.quit();
    }
  });
});
