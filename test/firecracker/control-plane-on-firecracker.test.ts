import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ExecFailedError, Leasehold } from '../../src/client/index.js';
import { DEFAULT_CONFIG } from '../../src/config.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { fakeFirecrackerHost } from './firecracker-harness.js';
import { text } from '../helpers/streams.js';

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

  it('runs execs in a microVM session through the client: streamed output, stdin, exit codes; a guest without the agent is refused in words', async () => {
    const host = fakeFirecrackerHost();
    const tp = await startTestPlane(servers(), { sandbox: 'firecracker', firecracker: { ...host.config(), agentBootMs: 300 } });
    const lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    try {
      await redis.lpush(
        tp.plane.keys.queue,
        JSON.stringify({ id: 'vm-session', type: 'untrusted', image: 'python', cmd: ['sleep', '3600'], env: { WHO: 'the spec' } }),
        JSON.stringify({ id: 'vm-bare', type: 'untrusted', image: 'bare', cmd: ['sleep', '3600'] }),
      );
      await recorder.until(() => ['vm-session', 'vm-bare'].every((id) => recorder.of(id).some((m) => m.to === 'running')), 20_000, 'both VMs running');
      const run = lh.exec('vm-session', ['sh', '-c', 'echo "in the VM of $WHO"; echo oops >&2; exit 4']);
      const [stdout, stderr, result] = await Promise.all([text(run.stdout), text(run.stderr), run.result]);
      assert.deepEqual([stdout, stderr, result], ['in the VM of the spec\n', 'oops\n', { exitCode: 4 }]);
      const cat = lh.exec('vm-session', ['cat'], { stdin: 'from the asker' });
      assert.deepEqual([await text(cat.stdout), await cat.result], ['from the asker', { exitCode: 0 }]);
      await assert.rejects(lh.exec('vm-bare', ['true']).result, (error: unknown) => error instanceof ExecFailedError && /nothing in the guest answers on vsock port 10240/.test(error.message));
      assert.equal(recorder.ended('vm-session'), undefined, 'execs do not end the session');
    } finally {
      await lh.close();
      await tp.stop();
      host.cleanup();
    }
  });

  it('keeps a warm pool of microVMs: a claimed run starts in a member through the guest agent, and ends with its exit code', async () => {
    const host = fakeFirecrackerHost();
    const tp = await startTestPlane(servers(), { sandbox: 'firecracker', firecracker: { ...host.config(), agentBootMs: 300 }, pools: [parsePoolOption('untrusted:python:size=1')] });
    const lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    try {
      await eventually(() => assert.equal(tp.plane.pools()[0]?.ready, 1), 20_000);
      const vmsBefore = new Set(host.requests().map((r) => r.vm));
      await redis.lpush(tp.plane.keys.queue, JSON.stringify({ id: 'vm-warm', type: 'untrusted', image: 'python', cmd: ['sh', '-c', 'echo "warm $LEASEHOLD_WORKLOAD_ID"; exit 5'] }));
      await recorder.untilEnded(['vm-warm']);
      assert.equal(recorder.ended('vm-warm')!.exitCode, 5);
      assert.equal(tp.plane.pools()[0]!.hits, 1, 'it ran in the ready member');
      assert.match((await lh.logs('vm-warm')) ?? '', /warm vm-warm/);
      assert.equal(host.requests().some((r) => r.vm === 'vm-warm'), false, 'no VM of its own was made for it');
      assert.ok(vmsBefore.size >= 1, 'the member was a VM made ahead of it');
    } finally {
      await lh.close();
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
