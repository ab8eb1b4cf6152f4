import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { parseLogsReply, parseStatusReply } from '../../src/events/messages.js';
import { SUBJECTS } from '../../src/events/transition.js';
import { startCliControlPlane } from '../helpers/cli.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';

/**
 * The control plane's own guard on control requests, on a NATS server with no permissions at
 * all (what `leasehold dev` runs, and what a deployment gets when it skips manifests/nats.conf):
 * answers go to inboxes only, and a flood of requests costs a bounded amount of memory.
 */
const servers = useServers();

const sleeper = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['sleep', '60'] });

/** Peak resident memory of a process so far, in bytes (Linux). */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, 'VmHWM in /proc/<pid>/status');
  return Number(match[1]) * 1024;
}

describe('control requests over NATS', () => {
  it('are answered on inboxes only: a status request whose reply subject is leasehold.cancel.<id> cancels nothing', async () => {
    const tp = await startTestPlane(servers(), { teardownGraceMs: 200 });
    const redis = redisClient(servers().redis.url);
    const attacker = await connect({ servers: servers().nats.url });
    const state = (id: string) => redis.hget(tp.plane.keys.workload(id), 'state');
    const onVictim: string[] = [];
    attacker.subscribe('workloads.reply-victim.>', {
      callback: (error, msg) => {
        if (!error) onVictim.push(msg.subject);
      },
    });
    try {
      await attacker.flush();
      await redis.lpush(tp.plane.keys.queue, sleeper('reply-victim'));
      await eventually(() => assert.ok(onVictim.includes('workloads.reply-victim.running')), 15_000);
      onVictim.length = 0;

      attacker.publish(SUBJECTS.status('reply-victim'), '', { reply: SUBJECTS.cancel('reply-victim') });
      attacker.publish(SUBJECTS.logs('nosuch'), '', { reply: SUBJECTS.cancel('reply-victim') });
      // A reply that would land on a transition subject, as a forged transition.
      attacker.publish(SUBJECTS.status('reply-victim'), '', { reply: 'workloads.reply-victim.tornDown' });
      // A request with no reply subject at all does nothing either.
      attacker.publish(SUBJECTS.cancel('reply-victim'));
      await attacker.flush();
      // An honest request on the same connection is answered, so the others were heard.
      const answer = parseStatusReply((await attacker.request(SUBJECTS.status('reply-victim'), '', { timeout: 5_000 })).data, 'reply-victim');
      assert.equal(answer?.ok && answer.value.state, 'running');
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // room for a cancel that should not come

      assert.equal(await state('reply-victim'), 'running', 'the workload was not cancelled');
      assert.deepEqual(onVictim, [], 'nothing was published on the workload\'s transition subjects');
    } finally {
      await attacker.close();
      await tp.plane.supervisor.cancel('reply-victim');
      await eventually(async () => assert.equal(await state('reply-victim'), 'tornDown'), 15_000);
      await tp.stop();
      await redis.quit();
    }
  });

  it('a flood of logs requests for a workload with 64 KiB of output leaves the control plane\'s memory bounded, and it still answers', { timeout: 120_000 }, async () => {
    const redis = redisClient(servers().redis.url);
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-flood-'));
    const prefix = uniquePrefix();
    const plane = await startCliControlPlane(['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--http-port', '0', '--state-dir', stateDir]);
    let nc: NatsConnection | null = null;
    try {
      nc = await connect({ servers: servers().nats.url });
      const output = 64 * 1024;
      await redis.lpush(
        `${prefix}workload_queue`,
        JSON.stringify({ id: 'chatty', type: 'trusted', image: 'alpine', cmd: ['sh', '-c', `head -c ${output} /dev/zero | tr '\\0' x; exec sleep 60`] }),
      );
      const logs = async () => {
        const reply = parseLogsReply((await nc!.request(SUBJECTS.logs('chatty'), '', { timeout: 10_000 })).data, 'chatty');
        assert.ok(reply?.ok, JSON.stringify(reply));
        return reply.value.logs;
      };
      await eventually(async () => assert.equal((await logs()).length, output), 15_000);
      const before = peakRss(plane.child.pid!);

      // 8,000 requests as fast as one client sends them; their answers go to an inbox nobody
      // reads, so the server drops them and only the control plane pays for them. Unbounded,
      // every answer waits in the control plane's memory at once (some 90 KB each).
      const inbox = createInbox();
      for (let i = 0; i < 8_000; i++) {
        nc.publish(SUBJECTS.logs('chatty'), '', { reply: `${inbox}.${i}` });
        if (i % 500 === 0) await nc.flush();
      }
      await nc.flush();

      // Asked after the flood, on the same connection: answered once the flood was taken in.
      const status = parseStatusReply((await nc.request(SUBJECTS.status('chatty'), '', { timeout: 30_000 })).data, 'chatty');
      assert.equal(status?.ok && status.value.state, 'running', 'the control plane answers a status request');
      await eventually(async () => assert.equal((await logs()).length, output), 30_000);
      const grown = peakRss(plane.child.pid!) - before;
      assert.ok(grown < 150 * 1024 * 1024, `the control plane's peak memory grew by ${Math.round(grown / 1024 / 1024)} MiB`);
    } finally {
      if (nc) {
        // The control plane leaves workloads running when it stops; this one must not outlive the test.
        await nc.request(SUBJECTS.cancel('chatty'), '', { timeout: 10_000 }).catch(() => undefined);
        await eventually(async () => assert.equal(await redis.hget(`${prefix}leasehold:workload:chatty`, 'state'), 'tornDown'), 15_000).catch(() => undefined);
        await nc.close();
      }
      plane.child.kill('SIGTERM');
      await plane.exited;
      await redis.quit();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
