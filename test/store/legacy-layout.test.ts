import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { startTestPlane } from '../helpers/control-plane.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';

const servers = useServers();

function capturingLogger() {
  const lines: { level: number; msg: string; unfinished?: number; deadLetters?: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as (typeof lines)[number]);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

const LEGACY = /keys of Leasehold 0\.1's layout/;

describe('an upgrade from the 0.1 key layout', () => {
  let redis: Redis;
  before(() => {
    redis = redisClient(servers().redis.url);
  });
  after(() => redis.quit());

  it('says at start how many unfinished 0.1 workloads and dead letters the new layout leaves behind', async () => {
    const prefix = uniquePrefix();
    await redis.sadd(`${prefix}leasehold:active`, 'old-1', 'old-2');
    await redis.hset(`${prefix}leasehold:workload:old-1`, 'state', 'running');
    await redis.rpush(`${prefix}workload_queue:dead`, '{"raw":"x","reason":"invalid JSON","at":"2026-01-01T00:00:00.000Z"}');
    const { log, lines } = capturingLogger();
    const plane = await startTestPlane(servers(), { keyPrefix: prefix }, { log });
    await plane.stop();
    const warnings = lines.filter((line) => LEGACY.test(line.msg));
    assert.equal(warnings.length, 1, lines.map((line) => line.msg).join('\n'));
    assert.equal(warnings[0]!.level, 40);
    assert.equal(warnings[0]!.unfinished, 2);
    assert.equal(warnings[0]!.deadLetters, 1);
    assert.match(warnings[0]!.msg, /2 unfinished workload\(s\) that this version will not drive, and 1 dead letter\(s\)/);
  });

  it('says nothing on a Redis without 0.1 keys', async () => {
    const { log, lines } = capturingLogger();
    const plane = await startTestPlane(servers(), {}, { log });
    await plane.stop();
    assert.deepEqual(lines.filter((line) => LEGACY.test(line.msg)), []);
  });
});
