import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createKeys } from '../../src/keys.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../../src/spec/index.js';
import { runCli } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();
const payload = (id: string, cmd: string[] = ['true']) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd });

describe('leasehold dead-letters: read and retry what the control plane refused, without redis-cli', () => {
  let tp: TestPlane;
  let redis: Redis;
  let conn: string[];
  let dir: string;
  /** `twice` runs until this file exists: its id stays taken until the test says otherwise. */
  let gate: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'leasehold-dead-'));
    gate = join(dir, 'go');
    // A short retention frees a duplicate's id soon after its first run ends.
    tp = await startTestPlane(servers(), { retentionSeconds: 1 });
    redis = redisClient(servers().redis.url);
    conn = ['--redis', servers().redis.url, '--key-prefix', tp.config.keyPrefix];
    const { queue, dead } = tp.plane.keys;
    // Oldest first: not JSON, then oversized, then the same id twice in one push.
    await redis.lpush(queue, '{"id": "broken",');
    await eventually(async () => assert.equal(await redis.llen(dead), 1));
    await redis.lpush(queue, `{"id":"huge","cmd":"${'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES)}"}`);
    await eventually(async () => assert.equal(await redis.llen(dead), 2));
    const twice = payload('twice', ['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.05; done`]);
    await redis.lpush(queue, twice, twice);
    await eventually(async () => assert.equal(await redis.llen(dead), 3));
  });
  after(async () => {
    await redis.quit();
    await tp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('list numbers them from the oldest, with the id and the reason; -o json gives the letters as data', async () => {
    const text = await runCli(['dead-letters', 'list', ...conn]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.match(lines[0]!, /^#\s+AT\s+ID\s+REASON$/);
    assert.match(lines[1]!, /^1\s+\S+Z\s+broken\s+invalid JSON/);
    assert.match(lines[2]!, /^2\s+\S+Z\s+huge\s+.*over the limit.*\(kept 256 of \d+ bytes\)$/);
    assert.match(lines[3]!, /^3\s+\S+Z\s+twice\s+duplicate id/);
    const json = JSON.parse((await runCli(['dead-letters', 'list', '-o', 'json', ...conn])).stdout) as { n: number; id: string; raw: string; bytes?: number }[];
    assert.deepEqual(json.map((l) => [l.n, l.id]), [[1, 'broken'], [2, 'huge'], [3, 'twice']]);
    assert.equal(json[0]!.raw, '{"id": "broken",');
  });

  it('show --raw prints the payload byte for byte, to fix and submit it again', async () => {
    const raw = await runCli(['dead-letters', 'show', '1', '--raw', ...conn]);
    assert.equal(raw.stdout, '{"id": "broken",\n');
    const shown = await runCli(['dead-letters', 'show', '3', ...conn]);
    assert.match(shown.stdout, /^dead letter 3\n {2}at: +\S+\n {2}id: +twice\n {2}reason: +duplicate id/);
    const missing = await runCli(['dead-letters', 'show', '9', ...conn]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^leasehold: no dead letter 9 in \{\S+workload_queue\}:dead/);
  });

  it('retry refuses, with the reason, a letter that would only be refused again or whose payload was not kept whole', async () => {
    const broken = await runCli(['dead-letters', 'retry', '1', ...conn]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^leasehold: kept 1 \(broken\): it would be refused again: invalid JSON/);
    const huge = await runCli(['dead-letters', 'retry', '2', ...conn]);
    assert.equal(huge.code, 1);
    assert.match(huge.stderr, /^leasehold: kept 2 \(huge\): only the first 256 of its \d+ bytes were kept; the payload itself is gone\n$/);
    assert.equal(await redis.llen(tp.plane.keys.dead), 3, 'nothing removed');
  });

  it('retry of a duplicate is refused while its id is taken; once free, the original payload goes back and the workload runs again', async () => {
    const recorder = await TransitionRecorder.start(servers().nats.url);
    try {
      const taken = await runCli(['dead-letters', 'retry', '3', ...conn]);
      assert.equal(taken.code, 1);
      assert.match(taken.stderr, /^leasehold: kept 3 \(twice\): the id twice is still taken/);
      writeFileSync(gate, '');
      await eventually(async () => assert.equal(await redis.exists(tp.plane.keys.workload('twice')), 0), 15_000);
      const result = await runCli(['dead-letters', 'retry', '3', ...conn]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `retried 3: twice pushed onto ${tp.plane.keys.queue}\n`);
      assert.equal(await redis.llen(tp.plane.keys.dead), 2, 'removed from the dead letters');
      await recorder.until(() => recorder.ended('twice')?.reason === 'completed', 15_000, 'the retried workload ran');
    } finally {
      await recorder.close();
    }
  });

  it('retry --all retries what it can and keeps the rest with the reason', async () => {
    const result = await runCli(['dead-letters', 'retry', '--all', '-o', 'json', ...conn]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { retried: unknown[]; kept: { n: number; why: string }[] };
    assert.deepEqual(report.retried, []);
    assert.deepEqual(report.kept.map((k) => k.n), [1, 2]);
    assert.equal((await runCli(['dead-letters', 'retry', ...conn])).code, 2, 'neither a number nor --all');
  });
});

describe('dead-letters retry under a race', () => {
  it('two operators retrying the same letter at once push it once: removal and push are one step', async () => {
    const prefix = uniquePrefix();
    const keys = createKeys(prefix);
    const redis = redisClient(servers().redis.url);
    const conn = ['--redis', servers().redis.url, '--key-prefix', prefix];
    try {
      await redis.rpush(keys.dead, JSON.stringify({ raw: payload('raced'), reason: 'duplicate id raced', at: new Date().toISOString() }));
      const results = await Promise.all([1, 2, 3].map(() => runCli(['dead-letters', 'retry', '1', ...conn])));
      assert.equal(results.filter((r) => r.code === 0).length, 1, results.map((r) => r.stdout + r.stderr).join('\n'));
      assert.deepEqual(await redis.lrange(keys.queue, 0, -1), [payload('raced')]);
      assert.equal(await redis.llen(keys.dead), 0);
    } finally {
      await redis.quit();
    }
  });
});
