import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { DEFAULT_CONFIG } from '../../src/config.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { fakeFirecrackerHost } from './firecracker-harness.js';

const servers = useServers();

describe('untrusted work in Firecracker microVMs, through the control plane (API double, real Redis and NATS)', () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
  });
  after(async () => {
    await recorder.close();
    await redis.quit();
  });

  it("runs the issue's agent-1 in a microVM with --sandbox firecracker, and trusted work stays on the host", async () => {
    const host = fakeFirecrackerHost();
    const tp = await startTestPlane(servers(), { sandbox: 'firecracker', firecracker: host.config() });
    try {
      await redis.lpush(
        tp.plane.keys.queue,
        JSON.stringify({ id: 'agent-1', type: 'untrusted', image: 'python', cmd: ['sh', '-c', 'exit 0'] }),
        JSON.stringify({ id: 'host-1', type: 'trusted', image: 'alpine', cmd: ['true'] }),
      );
      await recorder.untilEnded(['agent-1', 'host-1']);
      assert.equal(recorder.ended('agent-1')!.reason, 'completed');
      assert.equal(recorder.ended('host-1')!.reason, 'completed');
      const vms = new Set(host.requests().map((r) => r.vm));
      assert.deepEqual([...vms], ['agent-1'], 'only the untrusted workload got a VM');
    } finally {
      await tp.stop();
      host.cleanup();
    }
  });

  it('refuses untrusted work, naming what is missing, when this host cannot run Firecracker', async () => {
    const tp = await startTestPlane(servers(), {
      sandbox: 'firecracker',
      firecracker: { ...DEFAULT_CONFIG.firecracker, binary: '/nonexistent/firecracker', kvmDevice: '/nonexistent/kvm' },
    });
    try {
      await redis.lpush(tp.plane.keys.queue, JSON.stringify({ id: 'agent-2', type: 'untrusted', image: 'python', cmd: ['true'] }));
      await recorder.untilEnded(['agent-2']);
      const end = recorder.ended('agent-2')!;
      assert.equal(end.reason, 'rejected');
      assert.match(end.error ?? '', /the firecracker sandbox needs the firecracker binary \(\/nonexistent\/firecracker\)/);
      assert.match(end.error ?? '', /\/nonexistent\/kvm/);
    } finally {
      await tp.stop();
    }
  });
});
