import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Redis } from 'ioredis';
import { Leasehold } from '../../src/client/index.js';
import { startCliControlPlane } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers, uniqueId } from '../helpers/servers.js';
import { alive } from '../helpers/processes.js';

const servers = useServers();
const withMarker = (marker: string) => {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

/**
 * kill -9 of a control plane that holds idle members, a claimed run and a claimed session (local
 * processes outlive it: each is a process group of its own), then a restart on the same state: no
 * member, command or claim is left behind for ever, and the two workloads end.
 */
describe('adversary: the control plane is killed with -9 while warm pool members are idle and claimed', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-pool-killed-'));
  const keyPrefix = uniquePrefix();
  const marker = uniqueId('pool-killed-marker');
  let redis: Redis;
  let plane: Awaited<ReturnType<typeof startCliControlPlane>> | null = null;
  const start = () =>
    startCliControlPlane(['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', keyPrefix, '--http-port', '0', '--state-dir', stateDir, '--replica-id', 'pool-killed', '--pool', 'trusted:alpine:size=2']);
  /** Members as this host sees them: their pid files, and the pid in each. */
  const memberPids = () =>
    readdirSync(stateDir, { recursive: true })
      .map(String)
      .filter((path) => basename(path).startsWith('wp-') && path.endsWith('.json'))
      .map((path) => ({ id: basename(path, '.json'), pid: (JSON.parse(readFileSync(join(stateDir, path), 'utf8')) as { pid: number }).pid }));

  before(async () => {
    redis = redisClient(servers().redis.url);
    plane = await start();
  });
  after(async () => {
    if (plane && plane.child.exitCode === null && plane.child.signalCode === null) plane.child.kill('SIGTERM');
    await plane?.exited;
    for (const pid of withMarker(marker)) process.kill(Number(pid), 'SIGKILL');
    await redis.quit();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('leaves no member, command or claim behind after the restart, and ends both workloads', async () => {
    await using lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix });
    await eventually(() => assert.equal(memberPids().length, 2, 'two idle members'), 20_000);
    const run = uniqueId('run');
    await lh.submit({ id: run, type: 'trusted', image: 'alpine', cmd: ['sh', '-c', `sleep 300; : ${marker}-run`] });
    const session = await lh.session({ type: 'trusted', image: 'alpine', leaseSeconds: 30 });
    assert.deepEqual(await session.exec(['sh', '-c', `(sleep 300; : ${marker}-bg) >/dev/null 2>&1 &`]).result, { exitCode: 0 });
    const claims = await redis.hgetall(`${keyPrefix}leasehold:pool-claims`);
    assert.deepEqual(Object.keys(claims).sort(), [run, session.id].sort(), 'both claimed a member');
    await eventually(() => assert.equal(memberPids().length, 4, 'the pool refilled: two idle, two claimed'), 20_000);
    await eventually(() => assert.equal(withMarker(marker).length, 2, "the run's command and the session's background command"), 10_000);
    const before = memberPids();

    plane!.child.kill('SIGKILL');
    await plane!.exited;
    assert.ok(before.every(({ pid }) => alive(pid)), 'local members outlive a control plane killed with -9');
    plane = await start();

    await eventually(async () => {
      for (const id of [run, session.id]) assert.equal((await lh.status(id))?.state, 'tornDown', `${id} ended`);
    }, 60_000);
    await eventually(async () => assert.deepEqual(await redis.hgetall(`${keyPrefix}leasehold:pool-claims`), {}, 'no claim left in Redis'), 20_000);
    await eventually(() => assert.deepEqual(before.filter(({ pid }) => alive(pid)), [], 'every member of the killed control plane is gone'), 20_000);
    await eventually(() => assert.deepEqual(withMarker(marker), [], 'no command of a claimed workload is left'), 20_000);
    await eventually(() => assert.equal(memberPids().length, 2, 'a fresh pool of two'), 20_000);
    await session.close();
  });
});
