import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { ExecFailedError, Leasehold, WorkloadNotFoundError } from '../../src/client/index.js';
import type { ControlPlaneConfig } from '../../src/config.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, runCli } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { eventually } from '../helpers/eventually.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';
import { text } from '../helpers/streams.js';
import { alive } from '../helpers/processes.js';

const servers = useServers();
const workload = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['sleep', '3600'], env: { WHO: id }, ...extra });
/** `leasehold <args>` with `input` on its stdin. */
function runCliWithStdin(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('exec into running workloads through the control plane (Kubernetes runtime on the fake API server, real Redis and NATS)', () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  let kube: KubeHarness;
  const planes: TestPlane[] = [];
  const clients: Leasehold[] = [];

  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
  });
  beforeEach(async () => {
    kube = await startKube();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    for (const plane of planes.splice(0)) await plane.stop();
    await kube.stop();
  });
  after(async () => {
    await recorder.close();
    await redis.quit();
  });

  async function plane(overrides: Partial<ControlPlaneConfig> = {}): Promise<TestPlane> {
    const tp = await startTestPlane(servers(), {
      runtime: 'kubernetes',
      kubernetes: { kubeconfig: kube.kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' },
      ...overrides,
    });
    planes.push(tp);
    return tp;
  }
  async function client(keyPrefix: string): Promise<Leasehold> {
    const lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix });
    clients.push(lh);
    return lh;
  }
  const running = (ids: string[]) => recorder.until(() => ids.every((id) => recorder.of(id).some((m) => m.to === 'running')), 20_000, `${ids.join(',')} running`);

  it("runs a command in a running workload's Pod: output streamed, stdin in, the exit code out", async () => {
    const { config } = await plane();
    const id = `box-${uniquePrefix().replace(/[^a-z0-9]/g, '')}`;
    await redis.lpush(`${config.keyPrefix}workload_queue`, workload(id));
    await running([id]);
    const lh = await client(config.keyPrefix);

    const run = lh.exec(id, ['sh', '-c', 'echo "in $WHO"; echo oops >&2; exit 4']);
    const [stdout, stderr, result] = await Promise.all([text(run.stdout), text(run.stderr), run.result]);
    assert.equal(stdout, `in ${id}\n`, "the command ran in this workload's container (its env)");
    assert.equal(stderr, 'oops\n');
    assert.deepEqual(result, { exitCode: 4 });

    const cat = lh.exec(id, ['cat'], { stdin: 'from the asker' });
    assert.equal(await text(cat.stdout), 'from the asker');
    assert.deepEqual(await cat.result, { exitCode: 0 });

    const several = await Promise.all([1, 2, 3, 4].map((n) => lh.exec(id, ['sh', '-c', `exit ${n}`]).result));
    assert.deepEqual(several.map((r) => r.exitCode), [1, 2, 3, 4], 'several execs at once, each with its own code');
  });

  it('ends an exec at its timeout, and closes it when the asker aborts (the control plane then holds none)', async () => {
    const { config } = await plane();
    await redis.lpush(`${config.keyPrefix}workload_queue`, workload('stopper'));
    await running(['stopper']);
    const lh = await client(config.keyPrefix);
    assert.deepEqual(await lh.exec('stopper', ['sleep', '30'], { timeoutMs: 300 }).result, { exitCode: null, reason: 'timeout' });
    const controller = new AbortController();
    const run = lh.exec('stopper', ['sh', '-c', 'echo ready; exec sleep 30'], { signal: controller.signal });
    await run.stdout[Symbol.asyncIterator]().next();
    controller.abort(new Error('enough'));
    await assert.rejects(run.result, /enough/);
    // Its exec is over on the control plane too: all 8 slots of the workload are free again
    // (Kubernetes itself leaves the process to the Pod's end: see kexec.md).
    await eventually(async () => {
      // allSettled: an attempt leaves nothing running behind it to crowd the next.
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => lh.exec('stopper', ['true']).result));
      assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason))), results.map(() => ({ exitCode: 0 })));
    });
    assert.equal(recorder.ended('stopper'), undefined, 'cancelling an exec does not end its workload');
  });

  it("stops a session's command when its exec is cancelled or times out, and keeps its stderr whole", async () => {
    const { config } = await plane();
    await redis.lpush(`${config.keyPrefix}workload_queue`, JSON.stringify({ id: 'killable', type: 'trusted', image: 'alpine', leaseSeconds: 60 }));
    await running(['killable']);
    const lh = await client(config.keyPrefix);
    const scratch = mkdtempSync(join(tmpdir(), 'kexec-kill-'));
    const pidOf = async (file: string) => {
      await eventually(() => assert.ok(existsSync(file) && readFileSync(file, 'utf8').trim() !== ''));
      return Number(readFileSync(file, 'utf8').trim());
    };
    try {
      const err = lh.exec('killable', ['sh', '-c', 'echo first >&2; echo second >&2']);
      assert.equal(await text(err.stderr), 'first\nsecond\n', 'the pid line the wrapper writes never reaches the asker');

      const controller = new AbortController();
      const cancelled = lh.exec('killable', ['sh', '-c', `echo $$ > ${scratch}/cancel; exec sleep 30`], { signal: controller.signal });
      const pid = await pidOf(join(scratch, 'cancel'));
      controller.abort(new Error('enough'));
      await assert.rejects(cancelled.result, /enough/);
      await eventually(() => assert.equal(alive(pid), false, 'the cancelled command was killed in the Pod'));

      const timed = lh.exec('killable', ['sh', '-c', `echo $$ > ${scratch}/timeout; exec sleep 30`], { timeoutMs: 1_000 });
      const timedPid = await pidOf(join(scratch, 'timeout'));
      assert.deepEqual(await timed.result, { exitCode: null, reason: 'timeout' });
      await eventually(() => assert.equal(alive(timedPid), false, 'the timed-out command was killed in the Pod'));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('refuses an exec into a workload that has ended, and one into an unknown workload, in words', async () => {
    const { config } = await plane();
    await redis.lpush(`${config.keyPrefix}workload_queue`, workload('ended-1', { cmd: ['true'] }));
    await recorder.untilEnded(['ended-1'], 20_000);
    const lh = await client(config.keyPrefix);
    await assert.rejects(lh.exec('ended-1', ['true']).result, (error: unknown) => error instanceof ExecFailedError && error.code === 'NOT_RUNNING' && /has ended/.test(error.message));
    await assert.rejects(lh.exec('never-submitted', ['true']).result, WorkloadNotFoundError);
  });

  it('keeps a self-heartbeating session alive while execs keep coming, and lets it lapse once they stop', async () => {
    const { config } = await plane();
    const used = 'lease-used';
    const idle = 'lease-idle';
    const lease = { heartbeat: 'self', leaseSeconds: 2 };
    await redis.lpush(`${config.keyPrefix}workload_queue`, workload(used, lease), workload(idle, lease));
    await running([used, idle]);
    const lh = await client(config.keyPrefix);
    // Three lease periods of use: one short exec every half second.
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      assert.deepEqual(await lh.exec(used, ['true']).result, { exitCode: 0 });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.equal(recorder.ended(idle)?.reason, 'leaseExpired', 'the session nobody used lapsed');
    assert.equal(recorder.ended(used), undefined, 'the session in use is still running');
    await recorder.untilEnded([used], 10_000);
    assert.equal(recorder.ended(used)!.reason, 'leaseExpired', 'without execs it lapses like any other');
  });

  it('reaches the workload from either of two replicas: the owner runs it, whichever replica the request lands on', async () => {
    const keyPrefix = uniquePrefix();
    const one = await plane({ keyPrefix, replicaId: 'exec-r1', shardTtlMs: 2_000 });
    const two = await plane({ keyPrefix, replicaId: 'exec-r2', shardTtlMs: 2_000 });
    await eventually(() => assert.equal(one.plane.ownership.owned().size + two.plane.ownership.owned().size, 64), 20_000);
    await eventually(() => assert.ok(one.plane.ownership.owned().size > 0 && two.plane.ownership.owned().size > 0), 20_000);
    // Three workloads owned by each replica.
    const ownedBy = (tp: TestPlane) => Array.from({ length: 200 }, (_, i) => `two-${i}`).filter((id) => tp.plane.ownership.owned().has(one.plane.keys.shardOf(id))).slice(0, 3);
    const ids = [...ownedBy(one), ...ownedBy(two)];
    assert.equal(ids.length, 6);
    await redis.lpush(`${keyPrefix}workload_queue`, ...ids.map((id) => workload(id)));
    await running(ids);
    const lh = await client(keyPrefix);
    // Each replica gets requests (queue group): 24 execs leave next to no chance that one never forwards.
    for (let round = 0; round < 4; round++) {
      const outputs = await Promise.all(ids.map(async (id) => {
        const run = lh.exec(id, ['sh', '-c', 'echo $WHO']);
        const [out, result] = await Promise.all([text(run.stdout), run.result]);
        return { out: out.trim(), code: result.exitCode };
      }));
      assert.deepEqual(outputs, ids.map((id) => ({ out: id, code: 0 })));
    }
    assert.deepEqual([one, two].map((tp) => tp.plane.supervisor.counts().running.trusted), [3, 3], 'each replica drove its own three throughout');
  });

  it('leasehold exec exits with the command’s code, 124 at its --timeout, and 125 when there is nothing to exec into', async () => {
    const { config } = await plane();
    await redis.lpush(`${config.keyPrefix}workload_queue`, workload('cli-box'));
    await running(['cli-box']);
    const nats = ['--nats', servers().nats.url];
    const ran = await runCli(['exec', ...nats, '--env', 'X=1', 'cli-box', '--', 'sh', '-c', 'echo "x=$X who=$WHO"; exit 7']);
    assert.equal(ran.code, 7, ran.stderr);
    assert.equal(ran.stdout, 'x=1 who=cli-box\n');
    const slow = await runCli(['exec', ...nats, '--timeout', '0.3', 'cli-box', '--', 'sleep', '30']);
    assert.equal(slow.code, 124, slow.stderr);
    const piped = await runCliWithStdin(['exec', ...nats, '-i', 'cli-box', '--', 'sh', '-c', 'tr a-z A-Z'], 'quiet please\n');
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, 'QUIET PLEASE\n', '-i sends stdin, and its end reaches the command');
    const missing = await runCli(['exec', ...nats, 'no-such-box', '--', 'true']);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /no workload no-such-box/);
  });
});
