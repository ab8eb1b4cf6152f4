import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { Leasehold } from '../../src/client/index.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { bubblewrapLauncher } from '../../src/runtime/process/bubblewrap.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers, uniqueId } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { text } from '../helpers/streams.js';

const servers = useServers();
const bwrapUnavailable = bubblewrapLauncher().unavailableReason();
const withMarker = (marker: string) => {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

/**
 * An untrusted session that claimed a member is in the same sandbox a cold one gets (namespaces,
 * seccomp, no privileges, limits), and what it leaves running in the background, even in a
 * session of its own, ends with it: the next workload, in the next member, finds none of it.
 */
describe('adversary: an untrusted session in a bubblewrap warm pool member (real Redis and NATS)', { skip: bwrapUnavailable ? `bubblewrap cannot create a sandbox here: ${bwrapUnavailable}` : false }, () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  let tp: TestPlane;
  let lh: Leasehold;
  const marker = uniqueId('pool-sandbox-marker');
  const pool = () => tp.plane.pools()[0]!;
  const push = (payload: Record<string, unknown>) => redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify(payload));
  const running = (id: string) => recorder.until(() => recorder.of(id).some((m) => m.to === 'running'), 20_000, `${id} running`);
  const sh = async (id: string, script: string) => {
    const exec = lh.exec(id, ['sh', '-c', script]);
    const [out] = await Promise.all([text(exec.stdout), exec.result]);
    return out;
  };
  /** What a sandbox looks like from inside: its namespaces and its process's confinement. */
  const PROBE = 'for ns in user pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$ns | sed "s/:.*//"; done; grep -E "^(Seccomp|NoNewPrivs|CapEff|CapBnd):" /proc/self/status; cat /proc/sys/kernel/hostname';
  /** How many processes it sees: its own few, never the host's (the exact number varies with the probe's own). */
  const PROCESSES = 'ls /proc | grep -c "^[0-9]"';

  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
    tp = await startTestPlane(servers(), { pools: [parsePoolOption('untrusted:alpine:size=1')] });
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
  });
  after(async () => {
    await lh.close();
    await tp.stop();
    await recorder.close();
    await redis.quit();
    for (const pid of withMarker(marker)) process.kill(Number(pid), 'SIGKILL');
  });

  it('is confined as a cold session is', async () => {
    const cold = uniqueId('cold');
    await push({ id: cold, type: 'untrusted', image: 'busybox' });
    await eventually(() => assert.equal(pool().ready, 1), 20_000);
    const warm = uniqueId('warm');
    await push({ id: warm, type: 'untrusted', image: 'alpine' });
    await running(cold);
    await running(warm);
    assert.ok(await redis.hget(tp.plane.keys.poolClaims, warm), 'the second one claimed a member');
    const [coldView, warmView] = [await sh(cold, PROBE), await sh(warm, PROBE)];
    assert.match(warmView, /^Seccomp:\s+2$/m);
    assert.equal(warmView, coldView, 'the same confinement');
    const [coldCount, warmCount] = [Number(await sh(cold, PROCESSES)), Number(await sh(warm, PROCESSES))];
    assert.ok(warmCount <= coldCount + 2 && warmCount < 16, `only the sandbox's own processes: ${warmCount} seen warm, ${coldCount} cold`);
    await lh.cancel(cold);
    await lh.cancel(warm);
    await recorder.untilEnded([cold, warm], 20_000);
  });

  it('ends what it left running in the background, even in a session of its own, with the workload', async () => {
    await eventually(() => assert.equal(pool().ready, 1), 20_000);
    const first = uniqueId('first');
    await push({ id: first, type: 'untrusted', image: 'alpine' });
    await running(first);
    await sh(first, `setsid sh -c 'while :; do ls /tmp > /dev/null; sleep 1; done # ${marker}' >/dev/null 2>&1 < /dev/null & echo planted > /tmp/planted`);
    await eventually(() => assert.equal(withMarker(marker).length, 1, 'the background loop runs'), 10_000);
    await lh.cancel(first);
    await recorder.untilEnded([first], 20_000);
    await eventually(() => assert.deepEqual(withMarker(marker), [], 'gone with its workload'), 10_000);

    await eventually(() => assert.equal(pool().ready, 1), 20_000);
    const second = uniqueId('second');
    await push({ id: second, type: 'untrusted', image: 'alpine' });
    await running(second);
    assert.equal(await sh(second, 'cat /tmp/planted 2>/dev/null || echo clean; ps -eo args 2>/dev/null | grep -c "l[s] /tmp" || true'), 'clean\n0\n');
    await lh.cancel(second);
    await recorder.untilEnded([second], 20_000);
  });
});
