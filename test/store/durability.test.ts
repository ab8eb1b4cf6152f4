import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { createKeys } from '../../src/keys.js';
import { warnIfRedisCanLose } from '../../src/store/durability-check.js';
import { BIN } from '../helpers/cli.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { redisClient, useServers } from '../helpers/servers.js';

const servers = useServers();
const SEED = '{"id":"test-1","type":"trusted","image":"alpine","cmd":["echo","hello"]}';
const NOTHING_ON_DISK = /Redis keeps nothing on disk/;

/** A logger that keeps what it is told, for tests that read the log. */
function capturingLogger(): { log: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

const WARN = 40;
const INFO = 30;

describe('what Redis can lose, said at start', () => {
  let aof: OwnedServer;
  before(async () => {
    aof = await startRedis({ persistence: 'aof' });
  });
  after(() => aof.stop());

  it('warns once, plainly, when the control plane starts on a Redis that keeps nothing on disk', async () => {
    const { log, lines } = capturingLogger();
    const plane = await startTestPlane(servers(), {}, { log });
    await plane.stop();
    const warnings = lines.filter((l) => l.level === WARN && NOTHING_ON_DISK.test(l.msg));
    assert.equal(warnings.length, 1, lines.map((l) => l.msg).join('\n'));
    assert.match(warnings[0]!.msg, /a Redis restart loses every queued submission and workload record\. Set appendonly yes/);
  });

  it('says nothing about losing data on a Redis with an append-only file and noeviction', async () => {
    const redis = redisClient(aof.url);
    try {
      const { log, lines } = capturingLogger();
      const durability = await warnIfRedisCanLose(redis, log, aof.url);
      assert.deepEqual(durability, { persistence: 'aof', appendfsync: 'everysec', save: '', maxmemoryPolicy: 'noeviction' });
      assert.deepEqual(lines, []);
    } finally {
      await redis.quit();
    }
  });

  it('warns when Redis may evict keys, as it would delete queued work', async () => {
    const redis = redisClient(aof.url);
    try {
      await redis.config('SET', 'maxmemory-policy', 'volatile-lru');
      const { log, lines } = capturingLogger();
      await warnIfRedisCanLose(redis, log, aof.url);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.level, WARN);
      assert.match(lines[0]!.msg, /may evict keys when full \(maxmemory-policy volatile-lru\).*Set maxmemory-policy noeviction/);
    } finally {
      await redis.config('SET', 'maxmemory-policy', 'noeviction');
      await redis.quit();
    }
  });

  it('says once, without alarm, that it could not check when CONFIG is refused (managed Redis)', async () => {
    const admin = redisClient(aof.url);
    await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-pass', '~*', '&*', '+@all', '-config');
    const app = new Redis(aof.url.replace('redis://', 'redis://app:app-pass@'), { maxRetriesPerRequest: 2 });
    try {
      const { log, lines } = capturingLogger();
      assert.equal(await warnIfRedisCanLose(app, log, aof.url), null);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.level, INFO);
      assert.match(lines[0]!.msg, /could not check Redis persistence and eviction/);
    } finally {
      app.disconnect();
      await admin.call('ACL', 'DELUSER', 'app');
      await admin.quit();
    }
  });
});

describe('the Redis that leasehold dev runs', () => {
  it('keeps acknowledged submissions and records through a crash of Redis (append-only file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-aof-'));
    let redisServer = await startRedis({ dir, persistence: 'aof' });
    let redis = redisClient(redisServer.url);
    try {
      const keys = createKeys();
      await redis.lpush(keys.queue, SEED);
      await redis.hset(keys.workload('accepted-1'), 'spec', SEED, 'state', 'queued', 'run', 'r1');
      await redis.sadd(keys.shard(keys.shardOf('accepted-1')).active, 'accepted-1');
      // With everysec, Redis may postpone its write() while the previous second's fsync is still
      // running (a slow disk) and reply meanwhile; the README says so. What this test holds the dev
      // Redis to is that whatever it has written to its append-only file comes back after a kill.
      await waitUntilAofWritten(redis);
      redis.disconnect();
      await redisServer.kill('SIGKILL'); // no chance to write anything more on the way out
      redisServer = await startRedis({ dir, persistence: 'aof' });
      redis = redisClient(redisServer.url);
      assert.deepEqual(await redis.lrange(keys.queue, 0, -1), [SEED]);
      assert.deepEqual(await redis.hgetall(keys.workload('accepted-1')), { spec: SEED, state: 'queued', run: 'r1' });
      assert.equal(await redis.sismember(keys.shard(keys.shardOf('accepted-1')).active, 'accepted-1'), 1);
    } finally {
      redis.disconnect();
      await redisServer.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps a submission across a restart of `leasehold dev` on the same state directory, and says nothing alarming', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-dev-'));
    try {
      const first = await startDev(['--state-dir', stateDir]);
      const redis = redisClient(first.redisUrl);
      await redis.lpush('workload_queue', SEED);
      redis.disconnect();
      await first.stop();
      assert.ok(existsSync(join(stateDir, 'redis')), 'the data lives in the state directory');

      const second = await startDev(['--state-dir', stateDir]);
      const again = redisClient(second.redisUrl);
      try {
        assert.deepEqual(await again.lrange('workload_queue', 0, -1), [SEED], 'the acknowledged submission survived');
      } finally {
        again.disconnect();
        await second.stop();
      }
      assert.doesNotMatch(first.stderr() + second.stderr(), NOTHING_ON_DISK);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('--ephemeral runs it the old way, in a temporary directory, and warns so', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-dev-'));
    try {
      const dev = await startDev(['--state-dir', stateDir, '--ephemeral']);
      await dev.stop();
      assert.ok(!existsSync(join(stateDir, 'redis')));
      assert.match(dev.stderr(), NOTHING_ON_DISK);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

/** Resolves once Redis holds no AOF bytes in memory that are not yet written to the file. */
async function waitUntilAofWritten(redis: Redis): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const info = await redis.info('persistence');
    if (/^aof_buffer_length:0\r?$/m.test(info)) return;
    if (Date.now() > deadline) throw new Error(`Redis did not write its AOF buffer within 10 s:\n${info}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `leasehold dev` with a control plane that admits nothing (`--max-pending 0`), so a submission
 * stays in the queue where the test can see it; resolves once the banner names its Redis.
 */
async function startDev(args: string[]): Promise<{ redisUrl: string; stderr: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'dev', '--http-port', '0', '--max-pending', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const match = /Redis\s+(redis:\/\/\S+)/.exec(stdout);
    if (match) return { redisUrl: match[1]!, stderr: () => stderr, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`leasehold dev did not start:\n${stdout}\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
