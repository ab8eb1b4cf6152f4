import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { systemClock } from '../../src/clock.js';
import { createKeys } from '../../src/keys.js';
import { silentLogger } from '../../src/log.js';
import { Intake, type DeadLetter, type Refusal } from '../../src/queue/intake.js';
import type { WorkloadSpec } from '../../src/spec/index.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { holdShard, soleOwner } from '../helpers/shard-grant.js';

const servers = useServers();
const payload = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] });

describe('intake', () => {
  let redis: Redis;
  before(() => {
    redis = redisClient(servers().redis.url);
  });
  after(() => redis.quit());

  function makeIntake(prefix: string, capacity = () => 1_000_000) {
    const keys = createKeys(prefix, 1);
    const accepted: WorkloadSpec[] = [];
    const rejected: Refusal[] = [];
    const blocking = redisClient(servers().redis.url);
    const intake = new Intake(
      blocking,
      redis,
      keys,
      { consumer: 'c1', batch: 100, blockTimeoutSeconds: 1, maxPayloadBytes: 1024, maxDeadLetters: 5 },
      {
        accepted: (workloads) => accepted.push(...workloads.map((w) => w.spec)),
        rejected: (letters) => rejected.push(...letters),
        capacity,
        recordedElsewhere: () => undefined,
      },
      systemClock,
      silentLogger,
      soleOwner('c1'),
    );
    return { keys, accepted, rejected, intake };
  }

  async function until(check: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('dead-letters bad entries with a reason and goes on to the next', async () => {
    const { keys, accepted, rejected, intake } = makeIntake(uniquePrefix());
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    try {
      await redis.lpush(keys.queue, 'not json', '{"type":"trusted"}', payload('good-1'), payload('good-1'), 'x'.repeat(2000), payload('good-2'));
      await until(() => accepted.length === 2 && rejected.length === 4, 'all six entries');
      assert.deepEqual(
        accepted.map((s) => s.id),
        ['good-1', 'good-2'],
      );
      const dead = (await redis.lrange(keys.dead, 0, -1)).map((line) => JSON.parse(line) as DeadLetter);
      assert.deepEqual(dead.map((d) => d.reason).sort(), [
        'duplicate id good-1',
        'id: is required; image: is required',
        'invalid JSON at position 1',
        'payload of 2000 bytes is over the limit of 1024 bytes',
      ]);
      assert.ok(dead.every((d) => typeof d.raw === 'string' && !Number.isNaN(Date.parse(d.at))));
      assert.ok(
        dead.every((d) => Object.keys(d).sort().join() === (d.reason.startsWith('payload of') ? 'at,bytes,raw,reason' : 'at,raw,reason')),
        'dead letters are {raw, reason, at}, with bytes when raw holds only the head',
      );
      assert.deepEqual(rejected.map((r) => r.kind).sort(), ['duplicate', 'invalidJson', 'invalidSpec', 'oversized']);
      assert.equal(await redis.llen(keys.processing('c1')), 0, 'nothing lingers in the processing list');
      assert.equal(await redis.sismember(keys.shard(0).active, 'good-1'), 1);
    } finally {
      await intake.stop();
    }
  });

  it('keeps only the newest dead letters when garbage floods in', async () => {
    const { keys, rejected, intake } = makeIntake(uniquePrefix());
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    try {
      await redis.lpush(keys.queue, ...Array.from({ length: 12 }, (_, i) => `garbage ${i}`));
      await until(() => rejected.length === 12, 'all twelve refused');
      const dead = (await redis.lrange(keys.dead, 0, -1)).map((line) => (JSON.parse(line) as DeadLetter).raw);
      assert.deepEqual(dead, ['garbage 7', 'garbage 8', 'garbage 9', 'garbage 10', 'garbage 11']);
    } finally {
      await intake.stop();
    }
  });

  it('never starts a second lifecycle for an id already recorded, even much later', async () => {
    const { keys, accepted, rejected, intake } = makeIntake(uniquePrefix());
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    try {
      await redis.lpush(keys.queue, payload('once'));
      await until(() => accepted.length === 1, 'first submission');
      await redis.lpush(keys.queue, payload('once'));
      await until(() => rejected.length === 1, 'the duplicate');
      assert.equal(accepted.length, 1);
      assert.equal(rejected[0]!.reason, 'duplicate id once');
      assert.equal(rejected[0]!.raw, payload('once'), 'the refusal carries what the producer pushed');
    } finally {
      await intake.stop();
    }
  });

  it('recovers entries a crashed consumer popped but never recorded', async () => {
    const prefix = uniquePrefix();
    const keys = createKeys(prefix, 1);
    // What a crash between the pop and the record leaves behind.
    await redis.lpush(keys.processing('c1'), payload('orphan-2'), payload('orphan-1'));
    const { accepted, intake } = makeIntake(prefix);
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    try {
      await until(() => accepted.length === 2, 'recovered entries');
      assert.deepEqual(accepted.map((s) => s.id).sort(), ['orphan-1', 'orphan-2']);
      assert.equal(await redis.llen(keys.processing('c1')), 0);
    } finally {
      await intake.stop();
    }
  });

  it('takes a deep queue in batches, in order, and pauses when the supervisor is full', async () => {
    let room = 250;
    const { keys, accepted, intake } = makeIntake(uniquePrefix(), () => room - accepted.length);
    const ids = Array.from({ length: 1000 }, (_, i) => `deep-${i}`);
    await redis.lpush(keys.queue, ...ids.map(payload));
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    try {
      await until(() => accepted.length === 250, 'the first 250');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(accepted.length, 250, 'paused at capacity');
      assert.equal(await redis.llen(keys.queue), 750, 'the rest waits in the queue, not in memory');
      room = 1000;
      intake.resume();
      await until(() => accepted.length === 1000, 'the rest');
      assert.deepEqual(
        accepted.map((s) => s.id),
        ids,
        'FIFO order',
      );
    } finally {
      await intake.stop();
    }
  });

  it('stops promptly while blocked on an empty queue, losing nothing', async () => {
    const { keys, intake } = makeIntake(uniquePrefix());
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await intake.stop();
    await redis.lpush(keys.queue, payload('after-stop'));
    assert.equal(await redis.llen(keys.queue), 1, 'a stopped intake takes nothing');
  });
});

describe('intake when recording fails', () => {
  /**
   * An intake on a real Redis whose script `name` fails once, as on a timeout or a failover;
   * `accepted` sees each hand-over. The scripts are registered on the connection (defineScripts).
   */
  async function failingOnce(name: 'leaseholdRecord' | 'leaseholdSettle', accepted: (ids: string[], processing: () => Promise<number>) => void) {
    const redis = redisClient(servers().redis.url);
    const blocking = redisClient(servers().redis.url);
    const keys = createKeys(uniquePrefix(), 1);
    const failure = { injected: 0 };
    const flaky = new Proxy(redis, {
      get(target, property, receiver) {
        if (property === name) {
          const script = Reflect.get(target, property, receiver) as (...a: unknown[]) => Promise<unknown>;
          return (...args: unknown[]) => (failure.injected++ === 0 ? Promise.reject(new Error('injected failure')) : script.apply(target, args));
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const processing = () => redis.llen(keys.processing('c1'));
    const intake = new Intake(
      blocking,
      flaky,
      keys,
      { consumer: 'c1', batch: 100, blockTimeoutSeconds: 1, maxPayloadBytes: 1024, maxDeadLetters: 5 },
      {
        accepted: (workloads) => accepted(workloads.map((w) => w.spec.id), processing),
        rejected: () => undefined,
        capacity: () => 1_000,
        recordedElsewhere: () => undefined,
      },
      systemClock,
      silentLogger,
      soleOwner('c1'),
    );
    await holdShard(redis, keys, 'c1', 0, 1);
    await intake.start();
    // Two entries, apart: the first meets the failure, the second comes after it.
    await redis.lpush(keys.queue, payload('first'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await redis.lpush(keys.queue, payload('second'));
    return {
      failure,
      processing,
      async stop() {
        await intake.stop();
        await redis.quit();
      },
    };
  }

  async function until(check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!(await check()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  it('records on the next pass what a failed record left in the processing list, losing nothing', async () => {
    const accepted: string[] = [];
    const run = await failingOnce('leaseholdRecord', (ids) => accepted.push(...ids));
    try {
      await until(async () => accepted.length >= 2);
      assert.deepEqual(accepted.sort(), ['first', 'second']);
      assert.ok(run.failure.injected >= 2, 'the failure was injected, then recording went on');
      assert.equal(await run.processing(), 0);
    } finally {
      await run.stop();
    }
  });

  it('hands recorded workloads over once when tidying up after them fails, and tidies on the next pass', async () => {
    const accepted: string[] = [];
    let processingWhenHanded = -1;
    const run = await failingOnce('leaseholdSettle', (ids, processing) => {
      accepted.push(...ids);
      // Asked before the settle is sent: the workload came straight from its record.
      if (processingWhenHanded === -1) void processing().then((n) => (processingWhenHanded = n));
    });
    try {
      await until(async () => accepted.length >= 2 && (await run.processing()) === 0);
      assert.deepEqual(accepted, ['first', 'second'], 'each handed over once, the first despite its failed settle');
      assert.ok(run.failure.injected >= 2, 'the failure was injected, then settling went on');
      assert.equal(processingWhenHanded, 1, 'handed over while its entry was still in the processing list');
      assert.equal(await run.processing(), 0);
    } finally {
      await run.stop();
    }
  });
});
