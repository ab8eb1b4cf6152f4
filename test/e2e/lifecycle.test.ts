import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { SUBJECTS, type WorkloadStatus } from '../../src/events/transition.js';
import { bubblewrapLauncher } from '../../src/runtime/process/bubblewrap.js';
import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { processesWith } from '../helpers/processes.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();
const SEED = '{"id":"test-1","type":"trusted","image":"alpine","cmd":["echo","hello"]}';
const workload = (id: string, cmd: string[] | string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd, ...extra });

describe('the lifecycle, end to end on real Redis and NATS', () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  let tp: TestPlane | null = null;
  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
  });
  afterEach(async () => {
    await tp?.stop();
    tp = null;
  });
  after(async () => {
    await recorder.close();
    await redis.quit();
  });

  async function plane(overrides: Parameters<typeof startTestPlane>[1] = {}, deps: Parameters<typeof startTestPlane>[2] = {}) {
    tp = await startTestPlane(servers(), overrides, deps);
    return tp;
  }

  it("takes the seed's LPUSH through all five states, in order, with exitCode 0", async () => {
    const { plane: cp } = await plane();
    await redis.lpush(cp.keys.queue, SEED);
    await recorder.untilEnded(['test-1']);
    const seen = recorder.of('test-1');
    assert.deepEqual(
      seen.map((m) => [m.from, m.to, m.seq]),
      [
        [null, 'queued', 1],
        ['queued', 'provisioning', 2],
        ['provisioning', 'running', 3],
        ['running', 'expiring', 4],
        ['expiring', 'tornDown', 5],
      ],
    );
    const last = seen.at(-1)!;
    assert.equal(last.reason, 'completed');
    assert.equal(last.exitCode, 0);
    assert.equal(last.type, 'trusted');
    assert.ok(seen.every((m, i) => i === 0 || Date.parse(m.at) >= Date.parse(seen[i - 1]!.at)));
    // A late subscriber asks instead of having listened.
    const reply = await recorder.nc.request(SUBJECTS.status('test-1'), '', { timeout: 2_000 });
    const status = reply.json<WorkloadStatus>();
    assert.equal(status.state, 'tornDown');
    assert.equal(status.exitCode, 0);
    assert.equal(await cp.supervisor.logs('test-1'), 'hello\n');
  });

  it('ends a non-zero exit as failed with its exit code', async () => {
    const { plane: cp } = await plane();
    await redis.lpush(cp.keys.queue, workload('fails-3', ['sh', '-c', 'echo boom >&2; exit 3']));
    await recorder.untilEnded(['fails-3']);
    const end = recorder.ended('fails-3')!;
    assert.deepEqual([end.reason, end.exitCode, end.error], ['failed', 3, 'boom']);
  });

  it('expires the lease of a self-heartbeating workload that never beats, and tears it down', async () => {
    const { plane: cp } = await plane();
    const marker = `sleep 303.${process.pid}`;
    await redis.lpush(cp.keys.queue, workload('silent', marker, { heartbeat: 'self', leaseSeconds: 1 }));
    await recorder.untilEnded(['silent']);
    assert.equal(recorder.ended('silent')!.reason, 'leaseExpired');
    assert.equal(recorder.of('silent').find((m) => m.to === 'expiring')!.event, 'lease.expired');
    assert.deepEqual(processesWith(marker), []);
    assert.equal(await redis.exists(cp.keys.lease('silent')), 0, 'the lease is released');
  });

  it('keeps a workload alive on its own heartbeats through the token-scoped endpoint', async () => {
    const { plane: cp } = await plane();
    const beat =
      "const beat=()=>fetch(process.env.LEASEHOLD_HEARTBEAT_URL,{method:'POST',headers:{authorization:'Bearer '+process.env.LEASEHOLD_HEARTBEAT_TOKEN}}).then(r=>console.log(r.status));beat();setInterval(beat,250)";
    await redis.lpush(cp.keys.queue, workload('beater', [process.execPath, '-e', beat], { heartbeat: 'self', leaseSeconds: 1 }));
    await recorder.until(() => recorder.of('beater').some((m) => m.to === 'running'), 10_000, 'beater running');
    // Three lease lifetimes later it is still running: only its heartbeats can have kept it.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(recorder.ended('beater'), undefined);
    assert.match((await cp.supervisor.logs('beater')) ?? '', /^204$/m);
    const wrong = await fetch(`http://127.0.0.1:${cp.httpPort}/v1/workloads/beater/heartbeat`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-token' },
    });
    assert.equal(wrong.status, 401);
    await cp.supervisor.cancel('beater');
    await recorder.untilEnded(['beater']);
    assert.equal(recorder.ended('beater')!.reason, 'cancelled');
  });

  it('lets an untrusted workload with no network heartbeat through the socket bound into its sandbox, and reach nothing else there', async () => {
    const { plane: cp } = await plane();
    // Node from /usr, which the sandbox sees read-only; the socket is the only way out.
    const script = [
      "const http=require('node:http');",
      'const ask=(method,path)=>new Promise(r=>{const q=http.request({socketPath:process.env.LEASEHOLD_HEARTBEAT_SOCKET,path,method,headers:{authorization:"Bearer "+process.env.LEASEHOLD_HEARTBEAT_TOKEN}},s=>{s.resume();r(s.statusCode)});q.on("error",e=>r(e.code));q.end()});',
      "const beat=()=>ask('POST',new URL(process.env.LEASEHOLD_HEARTBEAT_URL).pathname).then(c=>console.log('beat',c));",
      "ask('GET','/metrics').then(c=>console.log('metrics',c));",
      "ask('POST','/v1/workloads/someone-else/heartbeat').then(c=>console.log('other',c));",
      'beat();setInterval(beat,250);',
    ].join('');
    await redis.lpush(
      cp.keys.queue,
      JSON.stringify({ id: 'sandboxed-beater', type: 'untrusted', image: 'node', cmd: ['/usr/bin/node', '-e', script], heartbeat: 'self', leaseSeconds: 1 }),
    );
    await recorder.until(() => recorder.of('sandboxed-beater').some((m) => m.to === 'running'), 10_000, 'sandboxed-beater running');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(recorder.ended('sandboxed-beater'), undefined, 'three lease lifetimes later, still running on its own heartbeats');
    const logs = (await cp.supervisor.logs('sandboxed-beater')) ?? '';
    assert.match(logs, /^beat 204$/m);
    assert.match(logs, /^metrics 404$/m, 'the socket serves heartbeats and nothing else');
    assert.match(logs, /^other 401$/m, "its token does not renew another workload's lease");
    await cp.supervisor.cancel('sandboxed-beater');
    await recorder.untilEnded(['sandboxed-beater']);
  });

  it('cancels over NATS and ends a workload at its maximum lifetime', async () => {
    const { plane: cp } = await plane();
    await redis.lpush(cp.keys.queue, workload('to-cancel', ['sleep', '30']), workload('too-long', ['sleep', '30'], { maxLifetimeSeconds: 1 }));
    await recorder.until(() => recorder.of('to-cancel').some((m) => m.to === 'running'), 10_000, 'to-cancel running');
    const reply = await recorder.nc.request(SUBJECTS.cancel('to-cancel'), '', { timeout: 2_000 });
    assert.deepEqual(reply.json(), { ok: true, state: 'running' });
    await recorder.untilEnded(['to-cancel', 'too-long']);
    assert.equal(recorder.ended('to-cancel')!.reason, 'cancelled');
    assert.equal(recorder.ended('too-long')!.reason, 'deadline');
    const again = await recorder.nc.request(SUBJECTS.cancel('to-cancel'), '', { timeout: 2_000 });
    assert.deepEqual(again.json(), { ok: false, error: 'workload to-cancel has already ended', state: 'tornDown' });
  });

  it('admits no more than the per-type limit at once', async () => {
    const { plane: cp } = await plane({ maxConcurrent: { trusted: 1, untrusted: 1 } });
    await redis.lpush(cp.keys.queue, workload('slot-a', ['sleep', '0.3']), workload('slot-b', ['sleep', '0.3']));
    await recorder.untilEnded(['slot-a', 'slot-b']);
    const aEnded = Date.parse(recorder.ended('slot-a')!.at);
    const bProvisioned = Date.parse(recorder.of('slot-b').find((m) => m.to === 'provisioning')!.at);
    assert.ok(bProvisioned >= aEnded, 'slot-b waited in queued until slot-a was torn down');
  });

  it('refuses untrusted work when no sandbox is available, saying what to install, and never runs it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-nobwrap-'));
    const { plane: cp } = await plane(
      { stateDir },
      {
        runtimes: {
          trusted: new ProcessRuntime({ stateDir }),
          untrusted: new ProcessRuntime({ stateDir, launcher: bubblewrapLauncher({ bwrap: '/nonexistent/bwrap' }) }),
        },
      },
    );
    await redis.lpush(cp.keys.queue, JSON.stringify({ id: 'agent-0', type: 'untrusted', image: 'python', cmd: ['touch', '/tmp/ran'] }));
    await recorder.untilEnded(['agent-0']);
    assert.deepEqual(
      recorder.of('agent-0').map((m) => m.to),
      ['queued', 'tornDown'],
    );
    const end = recorder.ended('agent-0')!;
    assert.equal(end.reason, 'rejected');
    assert.match(end.error!, /bubblewrap, which is not installed: apt-get install bubblewrap/);
  });

  it('restores a queued workload after a clean stop and runs it exactly once', async () => {
    const first = await plane({ maxConcurrent: { trusted: 1, untrusted: 1 }, consumer: 'restart' });
    const prefix = first.config.keyPrefix;
    const stateDir = first.config.stateDir;
    await redis.lpush(first.plane.keys.queue, workload('holder', ['sleep', '0.5']), workload('waiter', ['true']));
    await recorder.until(() => recorder.of('waiter').length === 1, 10_000, 'waiter queued');
    await first.plane.stop();
    tp = null;
    await plane({ keyPrefix: prefix, stateDir, consumer: 'restart' });
    await recorder.untilEnded(['holder', 'waiter']);
    assert.equal(recorder.ended('waiter')!.reason, 'completed');
    assert.equal(recorder.of('waiter').filter((m) => m.to === 'provisioning').length, 1);
    assert.deepEqual(
      recorder.of('waiter').map((m) => m.seq),
      [1, 2, 3, 4, 5],
      'seq continues across the restart',
    );
  });

  it('re-adopts a running workload its runtime still vouches for, and keeps renewing its lease', async () => {
    // One runtime instance across both control planes: a runtime that survives the restart
    // (as Pods do), unlike local child processes.
    const runtime = new InstantRuntime();
    const runtimes = { trusted: runtime, untrusted: runtime };
    const first = await plane({ consumer: 'adopt' }, { runtimes });
    const { keyPrefix, stateDir } = first.config;
    await redis.lpush(first.plane.keys.queue, workload('adoptee', ['sleep', 'infinity'], { leaseSeconds: 1 }));
    await recorder.until(() => recorder.of('adoptee').some((m) => m.to === 'running'), 10_000, 'adoptee running');
    await first.plane.stop();
    tp = null;
    const second = await plane({ keyPrefix, stateDir, consumer: 'adopt' }, { runtimes });
    // Three lease lifetimes: only renewals by the new control plane can keep it running.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(recorder.ended('adoptee'), undefined, 'the adopted workload kept its lease');
    assert.equal((await second.plane.supervisor.status('adoptee'))?.state, 'running');
    await second.plane.supervisor.cancel('adoptee');
    await recorder.untilEnded(['adoptee']);
    assert.equal(recorder.ended('adoptee')!.reason, 'cancelled');
  });
});
