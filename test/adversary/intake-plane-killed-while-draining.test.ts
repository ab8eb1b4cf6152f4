import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createKeys } from '../../src/keys.js';
import type { DeadLetter } from '../../src/queue/intake.js';
import { startCliControlPlane } from '../helpers/cli.js';
import { redisClient, useServers } from '../helpers/servers.js';

/**
 * A real `leasehold start` killed with -9 while it drains a deep queue of valid, invalid and
 * duplicate entries, then started again under the same replica id. Intake now hands workloads over
 * before it settles a batch, so the kill can land with a batch recorded and running but still in
 * the processing list. What an operator checks afterwards: every valid workload has a record,
 * none ran twice, each refused entry has exactly one dead letter, the processing list is empty.
 */
const servers = useServers();
const VALID = 150;
const INVALID = 10;

describe('adversary: a control plane killed with -9 while intake drains a deep queue', () => {
  let redis: Redis;
  let dir: string;
  const children: { child: ChildProcess; exited: Promise<number | null> }[] = [];
  before(() => {
    redis = redisClient(servers().redis.url);
    dir = mkdtempSync(join(tmpdir(), 'leasehold-adv13-k9-'));
  });
  after(async () => {
    for (const { child, exited } of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records every valid entry, runs none twice, and dead-letters each refused entry once', async () => {
    const installation = `kn${process.pid}`;
    const keys = createKeys(`${installation}:`, 64);
    const ran = join(dir, 'ran');
    const start = async () => {
      const plane = await startCliControlPlane([
        '--redis',
        servers().redis.url,
        '--nats',
        servers().nats.url,
        '--installation',
        installation,
        '--replica-id',
        'r1',
        '--state-dir',
        join(dir, 'state'),
        '--http-port',
        '0',
        '--grace',
        '200',
      ]);
      children.push(plane);
      return plane;
    };
    const first = await start();
    const ids = Array.from({ length: VALID }, (_, i) => `k9-${i}`);
    const entry = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['sh', '-c', `echo ${id} >> ${ran}`] });
    const entries: string[] = [];
    ids.forEach((id, i) => {
      entries.push(entry(id));
      if (i % 15 === 0) entries.push(`not json ${i}`); // INVALID of them
      if (i % 15 === 7) entries.push(entry(id)); // pushed twice: a duplicate right behind its original
    });
    assert.equal(entries.length, VALID + 2 * INVALID);
    // Oldest first, as producers push them, in one go: a deep queue.
    await redis.lpush(keys.queue, ...entries);
    const ranCount = () => (existsSync(ran) ? readFileSync(ran, 'utf8').trim().split('\n').length : 0);
    const deadline = Date.now() + 15_000;
    while ((await redis.llen(keys.queue)) === entries.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
    first.child.kill('SIGKILL');
    await first.exited;
    const leftInProcessing = await redis.llen(keys.processing('r1'));

    const second = await start();
    const states = async () => Promise.all(ids.map((id) => redis.hget(keys.workload(id), 'state')));
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      const all = await states();
      if (all.every((s) => s === 'tornDown') && (await redis.llen(keys.queue)) === 0 && (await redis.llen(keys.processing('r1'))) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    second.child.kill('SIGTERM');
    await second.exited;

    const all = await states();
    assert.deepEqual(
      ids.filter((_, i) => all[i] === null),
      [],
      'every valid entry is recorded: nothing lost',
    );
    assert.deepEqual(
      ids.filter((_, i) => all[i] !== 'tornDown'),
      [],
      'every workload ended',
    );
    const lines = readFileSync(ran, 'utf8').trim().split('\n');
    const twice = [...new Set(lines.filter((id, i) => lines.indexOf(id) !== i))];
    assert.deepEqual(twice, [], `ran twice (kill left ${leftInProcessing} entries in the processing list, ${ranCount()} runs)`);
    assert.equal(await redis.llen(keys.processing('r1')), 0);
    const letters = (await redis.lrange(keys.dead, 0, -1)).map((json) => JSON.parse(json) as DeadLetter);
    const invalid = letters.filter((l) => l.raw.startsWith('not json')).map((l) => l.raw);
    assert.equal(invalid.length, INVALID, 'each invalid entry dead-lettered once');
    assert.equal(new Set(invalid).size, INVALID);
    const duplicates = letters.filter((l) => l.reason.startsWith('duplicate id')).map((l) => l.reason);
    assert.equal(new Set(duplicates).size, duplicates.length, 'no duplicate dead-lettered twice');
    assert.equal(duplicates.length, INVALID, `each duplicate dead-lettered once (kill left ${leftInProcessing} in the processing list)`);
  });
});
