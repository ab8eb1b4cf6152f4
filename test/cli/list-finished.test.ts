import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createKeys } from '../../src/keys.js';
import { shardKeys } from '../../src/ownership/shards.js';
import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import { runCli } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, useServers } from '../helpers/servers.js';

const servers = useServers();

interface Row {
  id: string;
  state: string;
  reason: string | null;
}

/** Redis hashes the text between the first `{` and the first `}` after it. */
const hashTag = (key: string) => {
  const open = key.indexOf('{');
  return key.slice(open + 1, key.indexOf('}', open + 1));
};

/** An id other than `id` in the same shard: the trim of a shard's index is per shard. */
function sameShard(id: string, stem: string): string {
  const keys = createKeys();
  for (let i = 0; ; i++) if (keys.shardOf(`${stem}-${i}`) === keys.shardOf(id)) return `${stem}-${i}`;
}

describe("the shards' indexes of finished workloads", () => {
  it('each lives in its shard\'s hash slot (one fenced script writes it with the record), on Redis Cluster too', () => {
    for (const prefix of ['', 'app:', 'we{ird:']) {
      const keys = createKeys(prefix);
      for (const shard of [0, 1, 63]) assert.equal(hashTag(keys.finished(shard)), hashTag(shardKeys(prefix, shard).owner), `${prefix} shard ${shard}`);
      assert.notEqual(hashTag(keys.finished(1)), hashTag(keys.finished(2)));
    }
  });

  let tp: TestPlane;
  let redis: Redis;
  let conn: string[];
  let submit: string[];
  before(async () => {
    // A retention of 4 s: a record expires within the test, and the index must not outlive it;
    // long enough that a CLI started on a loaded machine still lists it before it expires.
    tp = await startTestPlane(servers(), { retentionSeconds: 4 }, { runtimes: { trusted: new InstantRuntime(), untrusted: null } });
    redis = redisClient(servers().redis.url);
    conn = ['--redis', servers().redis.url, '--key-prefix', tp.config.keyPrefix];
    submit = [...conn, '--nats', servers().nats.url];
  });
  after(async () => {
    redis.disconnect();
    await tp.stop();
  });

  const finished = async (...args: string[]) => {
    const result = await runCli(['list', ...conn, '--state', 'tornDown', '-o', 'json', ...args]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    return (JSON.parse(result.stdout) as Row[]).map((r) => r.id);
  };

  it('a final write trims what is older than the retention, and the index expires with its newest record', async () => {
    const keys = tp.plane.keys;
    const first = 'trim-a';
    const second = sameShard(first, 'trim-b');
    const index = keys.finished(keys.shardOf(first));
    assert.equal((await runCli(['submit', '--wait', '--id', first, ...submit, '--', 'true'])).code, 0);
    assert.deepEqual(await finished(), [first]);
    const ttl = await redis.ttl(index);
    assert.ok(ttl >= 0 && ttl <= 4, `the index expires with the retention (TTL ${ttl})`);
    await eventually(async () => assert.equal(await redis.exists(keys.workload(first)), 0), 15_000);
    assert.equal((await runCli(['submit', '--wait', '--id', second, ...submit, '--', 'true'])).code, 0);
    assert.deepEqual(await redis.zrange(index, '0', '-1'), [second], 'the expired one was trimmed by the next final write');
    await eventually(async () => assert.equal(await redis.exists(index), 0), 15_000);
  });

  it('an entry whose record was deleted is skipped, and removed from the index; a read-only user just skips it', async () => {
    const keys = tp.plane.keys;
    const kept = 'tidy-kept';
    const deleted = sameShard(kept, 'tidy-deleted');
    const index = keys.finished(keys.shardOf(kept));
    // Long enough for the test: a hand-written entry with a far score, then the record deleted by hand.
    assert.equal((await runCli(['submit', '--wait', '--id', kept, ...submit, '--', 'true'])).code, 0);
    await redis.zadd(index, Date.now(), deleted);
    await redis.persist(index);
    await redis.persist(keys.workload(kept));
    await redis.call('ACL', 'SETUSER', 'finished-reader', 'on', '>reader', '~*', '-@all', '+@read', '+time', '+info');
    const url = new URL(servers().redis.url);
    url.username = 'finished-reader';
    url.password = 'reader';
    const readOnly = await runCli(['list', '--redis', url.toString(), '--key-prefix', tp.config.keyPrefix, '--state', 'tornDown', '-o', 'json']);
    assert.deepEqual([readOnly.code, readOnly.stderr], [0, '']);
    assert.deepEqual((JSON.parse(readOnly.stdout) as Row[]).map((r) => r.id), [kept]);
    assert.notEqual(await redis.zscore(index, deleted), null, 'a read-only user cannot tidy, and is not failed for it');
    assert.deepEqual(await finished(), [kept]);
    assert.equal(await redis.zscore(index, deleted), null, 'tidied');
    assert.notEqual(await redis.zscore(index, kept), null, 'an entry whose record exists stays');
    await redis.del(keys.workload(kept));
  });
});
