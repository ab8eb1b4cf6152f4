import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { systemClock } from '../../src/clock.js';
import { createKeys, type Keys } from '../../src/keys.js';
import { silentLogger } from '../../src/log.js';
import { DEAD_LETTER_MAX_BYTES, Intake, OVERSIZED_HEAD_BYTES, type DeadLetter, type Refusal } from '../../src/queue/intake.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, type WorkloadSpec } from '../../src/spec/index.js';
import { runCli } from '../helpers/cli.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { holdShard, soleOwner } from '../helpers/shard-grant.js';

const servers = useServers();
const payload = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] });
const MB = 1024 * 1024;

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('oversized and costly queue entries', () => {
  let redis: Redis;
  const running: Intake[] = [];
  before(() => {
    redis = redisClient(servers().redis.url);
  });
  after(async () => {
    for (const intake of running) await intake.stop();
    await redis.quit();
  });

  async function startIntake(maxDeadLetters: number) {
    const keys = createKeys(uniquePrefix(), 1);
    const accepted: WorkloadSpec[] = [];
    const refused: Refusal[] = [];
    const intake = new Intake(
      redisClient(servers().redis.url),
      redis,
      keys,
      { consumer: 'c1', batch: 100, blockTimeoutSeconds: 1, maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, maxDeadLetters },
      { accepted: (workloads) => accepted.push(...workloads.map((w) => w.spec)), rejected: (letters) => refused.push(...letters), capacity: () => 1_000, recordedElsewhere: () => undefined },
      systemClock,
      silentLogger,
      soleOwner('c1'),
    );
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    running.push(intake);
    return { keys, accepted, refused };
  }

  /** Bytes Redis has sent to all its clients: what reached the control plane, and a bit more. */
  async function bytesSent(): Promise<number> {
    return Number(/total_net_output_bytes:(\d+)/.exec(await redis.info('stats'))![1]);
  }

  async function deadLetters(keys: Keys): Promise<DeadLetter[]> {
    return (await redis.lrange(keys.dead, 0, -1)).map((line) => JSON.parse(line) as DeadLetter);
  }

  it('dead-letters twenty 2 MB entries inside Redis with their size and head, never sending them, and runs the valid ones around them', async () => {
    const { keys, accepted, refused } = await startIntake(1_000);
    const big = (i: number) => `{"id":"big-${i}","type":"trusted","image":"alpine","cmd":["true"],"env":{"X":"${'x'.repeat(2 * MB)}"}}`;
    const entries = [payload('before')];
    for (let i = 0; i < 20; i++) entries.push(big(i), payload(`between-${i}`));
    const sentBefore = await bytesSent();
    // The first pushed is the oldest: the wake-up of an idle intake sees a small entry.
    await redis.lpush(keys.queue, ...entries);
    await until(() => accepted.length === 21 && refused.length === 20, 'every entry judged');
    const sent = (await bytesSent()) - sentBefore;
    assert.ok(sent < MB, `Redis sent ${sent} bytes for 40 MB of oversized entries`);

    assert.deepEqual(accepted.map((s) => s.id), ['before', ...Array.from({ length: 20 }, (_, i) => `between-${i}`)]);
    const dead = await deadLetters(keys);
    assert.equal(dead.length, 20);
    for (const [i, letter] of dead.entries()) {
      assert.ok(Buffer.byteLength(JSON.stringify(letter)) <= DEAD_LETTER_MAX_BYTES);
      assert.equal(letter.bytes, Buffer.byteLength(big(i)));
      assert.equal(letter.raw, big(i).slice(0, OVERSIZED_HEAD_BYTES), 'the head says whose entry it was');
      assert.equal(letter.reason, `payload of ${letter.bytes} bytes is over the limit of ${DEFAULT_MAX_PAYLOAD_BYTES} bytes`);
      assert.ok(!Number.isNaN(Date.parse(letter.at)));
    }
    assert.deepEqual(refused.map((r) => [r.kind, r.bytes]), dead.map((d) => ['oversized', d.bytes]), 'metrics and logs hear of each');
    assert.equal(await redis.llen(keys.queue), 0);
    assert.equal(await redis.llen(keys.processing('c1')), 0);
  });

  it('refuses an oversized entry pushed to an idle queue the same way', async () => {
    const { keys, accepted, refused } = await startIntake(1_000);
    await new Promise((resolve) => setTimeout(resolve, 50)); // parked in its blocking wait
    await redis.lpush(keys.queue, 'y'.repeat(3 * MB));
    await redis.lpush(keys.queue, payload('after-idle'));
    await until(() => accepted.length === 1 && refused.length === 1, 'both judged');
    const [letter] = await deadLetters(keys);
    assert.deepEqual({ ...letter, at: '' }, { raw: 'y'.repeat(OVERSIZED_HEAD_BYTES), bytes: 3 * MB, reason: refused[0]!.reason, at: '' });
  });

  it('cuts the head of an oversized entry at a whole character, so the dead letter stays valid text', async () => {
    const { keys, refused } = await startIntake(1_000);
    // 'é' is two bytes; an odd start puts the 256-byte cut in the middle of one.
    await redis.lpush(keys.queue, `a${'é'.repeat(MB)}`, `😀${'😀'.repeat(MB / 4)}`);
    await until(() => refused.length === 2, 'both refused');
    const dead = await deadLetters(keys);
    assert.equal(dead[0]!.raw, `a${'é'.repeat(127)}`);
    assert.equal(dead[1]!.raw, '😀'.repeat(64));
  });

  it('keeps the dead-letter list within its bound in bytes, whatever the letters hold', async () => {
    const keep = 39;
    const { keys, accepted, refused } = await startIntake(keep);
    const nearLimit = DEFAULT_MAX_PAYLOAD_BYTES - 200;
    const manyKeys = (n: number) => JSON.stringify(Object.fromEntries(Array.from({ length: 1_200 }, (_, i) => [`key-${n}-${i}-${'k'.repeat(30)}`, 1])));
    const bigValid = JSON.stringify({ id: 'dup', type: 'trusted', image: 'alpine', cmd: ['true'], env: { X: 'v'.repeat(nearLimit - 100) } });
    const hostile = [
      ...Array.from({ length: 10 }, () => 'z'.repeat(5 * MB)),
      // Under the payload limit, so parsed and refused there: a valid entry's duplicates, invalid
      // JSON, escapes that grow sixfold when encoded, and 1,200 unknown keys for a long reason.
      ...Array.from({ length: 10 }, () => bigValid),
      ...Array.from({ length: 10 }, () => `[${'x'.repeat(nearLimit)}`),
      ...Array.from({ length: 10 }, () => JSON.stringify({ junk: '\u0001'.repeat(nearLimit / 6) })),
      ...Array.from({ length: 10 }, (_, n) => manyKeys(n)),
    ];
    assert.ok(hostile.slice(10).every((raw) => Buffer.byteLength(raw) <= DEFAULT_MAX_PAYLOAD_BYTES), 'only the first ten are oversized');
    await redis.lpush(keys.queue, ...hostile);
    await until(() => accepted.length === 1 && refused.length === hostile.length - 1, 'all judged');
    const lines = await redis.lrange(keys.dead, 0, -1);
    assert.equal(lines.length, keep, 'trimmed by count');
    for (const line of lines) assert.ok(Buffer.byteLength(line) <= DEAD_LETTER_MAX_BYTES, `a dead letter of ${Buffer.byteLength(line)} bytes`);
    const memory = Number(await redis.memory('USAGE', keys.dead));
    assert.ok(memory <= keep * DEAD_LETTER_MAX_BYTES + 4_096, `the dead-letter list takes ${memory} bytes of Redis`);
    const letters = lines.map((line) => JSON.parse(line) as DeadLetter);
    assert.ok(letters.every((d) => d.bytes !== undefined && d.bytes > d.raw.length), 'each says how big the entry was');
    for (const kind of ['duplicate id dup', 'invalid JSON at position', 'unknown field junk', 'unknown fields key-']) {
      assert.ok(letters.some((d) => d.reason.includes(kind)), `a letter for "${kind}" was kept, and bounded`);
    }
  });

  it('still refuses, after a restart, an oversized entry a crashed consumer left in its processing list', async () => {
    const prefix = uniquePrefix();
    const keys = createKeys(prefix, 1);
    await redis.lpush(keys.processing('c1'), 'q'.repeat(100_000));
    const accepted: WorkloadSpec[] = [];
    const refused: Refusal[] = [];
    const intake = new Intake(
      redisClient(servers().redis.url),
      redis,
      keys,
      { consumer: 'c1', batch: 100, blockTimeoutSeconds: 1, maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, maxDeadLetters: 10 },
      { accepted: (workloads) => accepted.push(...workloads.map((w) => w.spec)), rejected: (letters) => refused.push(...letters), capacity: () => 1_000, recordedElsewhere: () => undefined },
      systemClock,
      silentLogger,
      soleOwner('c1'),
    );
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    running.push(intake);
    await until(() => refused.length === 1, 'refused');
    const [letter] = await deadLetters(keys);
    assert.equal(letter!.bytes, 100_000);
    assert.ok(Buffer.byteLength(JSON.stringify(letter)) <= DEAD_LETTER_MAX_BYTES);
  });
});

describe('leasehold submit with an oversized payload', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'leasehold-submit-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a 3 GB file in one line before reading it or reaching Redis', async () => {
    const file = join(dir, 'huge.json');
    writeFileSync(file, '');
    truncateSync(file, 3 * 1024 * MB); // sparse: costs no disk
    const result = await runCli(['submit', '-f', file, '--redis', 'redis://127.0.0.1:1']);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, `leasehold: not submitted: payload of ${3 * 1024 * MB} bytes is over the limit of ${DEFAULT_MAX_PAYLOAD_BYTES} bytes\n`);
  });
});
