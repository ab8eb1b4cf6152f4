import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { systemClock } from '../../src/clock.js';
import { createKeys, type Keys } from '../../src/keys.js';
import { silentLogger } from '../../src/log.js';
import { Intake, type DeadLetter, type IntakeOwnership } from '../../src/queue/intake.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { holdShard } from '../helpers/shard-grant.js';

/**
 * Intake now hands recorded workloads to the supervisor before settle.lua writes the dead letters
 * and clears the processing list. These tests put a replica's death (or a failed call) exactly in
 * that window, on a real Redis, and look at what an operator would see: which workloads reached a
 * supervisor, how often, and what the dead-letter list holds.
 */
const servers = useServers();
const payload = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] });
const SHARDS = 2;

type ScriptName = 'leaseholdRecord' | 'leaseholdSettle';
/** Per script call: 'pass' sends it, 'hang' never answers (the process froze or was killed mid-call), 'fail' rejects before sending. */
type Fate = 'pass' | 'hang' | 'fail';

interface Replica {
  readonly accepted: string[];
  readonly intake: Intake;
  /** Ends the replica as kill -9 would: nothing more of it reaches Redis. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

describe('intake: a replica dies between record and settle', () => {
  let redis: Redis;
  before(() => {
    redis = redisClient(servers().redis.url);
  });
  after(() => redis.quit());

  /** Ids landing in shard 0 and shard 1 of SHARDS. */
  function idIn(shard: number, name: string): string {
    for (let i = 0; ; i++) if (createKeys('', SHARDS).shardOf(`${name}-${i}`) === shard) return `${name}-${i}`;
  }

  function replica(keys: Keys, consumer: string, ownership: IntakeOwnership, fate: (name: ScriptName, args: unknown[]) => Fate): Replica {
    const conn = redisClient(servers().redis.url);
    const blocking = redisClient(servers().redis.url);
    const hung: ((error: Error) => void)[] = [];
    const proxied = new Proxy(conn, {
      get(target, property, receiver) {
        if (property === 'leaseholdRecord' || property === 'leaseholdSettle') {
          const script = Reflect.get(target, property, receiver) as (...a: unknown[]) => Promise<unknown>;
          return (...args: unknown[]) => {
            const what = fate(property, args);
            if (what === 'fail') return Promise.reject(new Error('injected failure'));
            if (what === 'hang') return new Promise((_, reject) => hung.push(reject));
            return script.apply(target, args);
          };
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const accepted: string[] = [];
    const intake = new Intake(
      blocking,
      proxied,
      keys,
      { consumer, batch: 100, blockTimeoutSeconds: 1, maxPayloadBytes: 1024, maxDeadLetters: 50, adoptEveryMs: 100 },
      {
        accepted: (workloads) => accepted.push(...workloads.map((w) => w.spec.id)),
        rejected: () => undefined,
        capacity: () => 1_000,
        recordedElsewhere: () => undefined,
      },
      systemClock,
      silentLogger,
      ownership,
    );
    let ended = false;
    const end = async () => {
      if (ended) return;
      ended = true;
      const stopping = intake.stop();
      for (const reject of hung) reject(new Error('killed'));
      await stopping;
      conn.disconnect();
    };
    return { accepted, intake, kill: end, stop: end };
  }

  async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 8_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const deadLetters = async (keys: Keys) => (await redis.lrange(keys.dead, 0, -1)).map((json) => JSON.parse(json) as DeadLetter);
  const owner = (id: string): IntakeOwnership => ({ epochOf: () => 1, members: async () => [id] });

  async function setUp() {
    const keys = createKeys(uniquePrefix(), SHARDS);
    for (let shard = 0; shard < SHARDS; shard++) await holdShard(redis, keys, 'c1', shard, 1);
    return keys;
  }

  it("restarted under the same consumer id, it runs nothing twice and writes the invalid entry's dead letter once", async () => {
    const keys = await setUp();
    const a = idIn(0, 'a');
    const b = idIn(1, 'b');
    // The first life records, then dies before its settle reaches Redis.
    const first = replica(keys, 'c1', owner('c1'), (name) => (name === 'leaseholdSettle' ? 'hang' : 'pass'));
    await redis.lpush(keys.queue, payload(a), 'not json', payload(b));
    await first.intake.start();
    await until(() => first.accepted.length === 2, 'the first life to hand both over');
    await first.kill();
    assert.equal(await redis.llen(keys.processing('c1')), 3, 'the batch is still in the processing list');

    const second = replica(keys, 'c1', owner('c1'), () => 'pass');
    try {
      await second.intake.start();
      await until(async () => (await redis.llen(keys.processing('c1'))) === 0, 'the replay to settle');
      assert.deepEqual(second.accepted, [], 'what the first life handed over is not handed over again');
      const letters = await deadLetters(keys);
      assert.deepEqual(
        letters.map((l) => l.raw),
        ['not json'],
        'the invalid entry is dead-lettered exactly once',
      );
    } finally {
      await second.stop();
    }
  });

  it("a survivor adopting the dead replica's list runs nothing twice and writes the dead letter once", async () => {
    const keys = await setUp();
    const a = idIn(0, 'a');
    const first = replica(keys, 'c1', owner('c1'), (name) => (name === 'leaseholdSettle' ? 'hang' : 'pass'));
    await redis.lpush(keys.queue, payload(a), '{"id":"bad id!"}');
    await first.intake.start();
    await until(() => first.accepted.length === 1, 'the first replica to hand it over');
    await first.kill();

    // c1's membership expired: c2 is the only live replica and adopts c1's processing list.
    const survivor = replica(keys, 'c2', owner('c2'), () => 'pass');
    try {
      await survivor.intake.start();
      await until(
        async () => (await redis.exists(keys.processing('c1'))) === 0 && (await redis.llen(keys.processing('c2'))) === 0,
        'adoption and its settle',
      );
      assert.deepEqual(survivor.accepted, [], 'nothing the dead replica handed over runs again');
      assert.equal((await deadLetters(keys)).length, 1, 'the invalid entry is dead-lettered exactly once');
    } finally {
      await survivor.stop();
    }
  });

  it('a duplicate pushed in the same batch as its original is dead-lettered even when the replica dies before settling', async () => {
    const keys = await setUp();
    const a = idIn(0, 'dup');
    const first = replica(keys, 'c1', owner('c1'), (name) => (name === 'leaseholdSettle' ? 'hang' : 'pass'));
    // The producer pushed the same entry twice (a retry after a timeout): one runs, one is refused.
    await redis.lpush(keys.queue, payload(a), payload(a));
    await first.intake.start();
    await until(() => first.accepted.length === 1, 'the original to be handed over');
    await first.kill();

    const second = replica(keys, 'c1', owner('c1'), () => 'pass');
    try {
      await second.intake.start();
      await until(async () => (await redis.llen(keys.processing('c1'))) === 0, 'the replay to settle');
      assert.deepEqual(second.accepted, [], 'the original is not run again');
      const letters = await deadLetters(keys);
      assert.deepEqual(
        letters.map((l) => l.reason),
        [`duplicate id ${a}`],
        'the second copy is dead-lettered once, as it would have been without the crash',
      );
    } finally {
      await second.stop();
    }
  });

  it('a workload recorded in one shard of a batch reaches the supervisor even when the record of another shard of the batch fails', async () => {
    const keys = await setUp();
    const a = idIn(0, 'kept');
    const b = idIn(1, 'flaky');
    let failed = 0;
    const shardOneOwner = keys.shard(1).owner;
    // One timeout on shard 1's record (as on a failover of its slot); shard 0's goes through.
    const only = replica(keys, 'c1', owner('c1'), (name, args) =>
      name === 'leaseholdRecord' && args[1] === shardOneOwner && failed++ === 0 ? 'fail' : 'pass',
    );
    try {
      await redis.lpush(keys.queue, payload(a), payload(b));
      await only.intake.start();
      await until(async () => failed >= 1 && (await redis.llen(keys.processing('c1'))) === 0, 'the retry to settle the batch');
      assert.equal(await redis.hget(keys.workload(a), 'state'), 'queued', `${a} is recorded`);
      assert.equal(await redis.llen(keys.shard(0).inbox), 0, 'and not in any inbox: only the in-process hand-over can start it');
      await until(() => only.accepted.length >= 2, 'both workloads handed over').catch(() => undefined);
      assert.deepEqual([...only.accepted].sort(), [a, b].sort(), 'each workload of the batch reaches the supervisor once');
    } finally {
      await only.stop();
    }
  });
});
