import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import {
  CancelRefusedError,
  ClientTimeoutError,
  DuplicateIdError,
  InvalidIdError,
  InvalidSpecError,
  Leasehold,
  SubmissionRefusedError,
  WorkloadNotFoundError,
  type TransitionMessage,
} from '../../src/index.js';
import { startNats } from '../../src/dev/servers.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';

const servers = useServers();
const spec = (id: string, cmd: string[] | string = ['true']) => ({ id, type: 'trusted' as const, image: 'alpine', cmd });

describe('the TypeScript client against a real control plane (with history)', () => {
  let tp: TestPlane;
  let client: Leasehold;
  let redis: Redis;
  before(async () => {
    tp = await startTestPlane(servers(), { historySeconds: 600, maxPayloadBytes: 2_048 });
    client = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    redis = redisClient(servers().redis.url);
  });
  after(async () => {
    await client.close();
    await tp.stop();
    await redis.quit();
  });

  describe('submit', () => {
    it('resolves once the workload is recorded: its record is in Redis and the control plane answers for it', async () => {
      const submitted = await client.submit(spec('sub-recorded', ['sleep', '0.2']));
      assert.deepEqual([submitted.id, submitted.alreadySubmitted, submitted.spec.leaseSeconds], ['sub-recorded', false, 30]);
      assert.ok(await redis.hget(tp.plane.keys.workload('sub-recorded'), 'spec'), 'recorded before submit resolved');
      assert.notEqual(await client.status('sub-recorded'), null);
    });

    it('is idempotent by id: the same spec again (keys in another order) resolves with the recorded one and pushes nothing', async () => {
      await client.submit({ ...spec('sub-again'), env: { A: '1', B: '2' } });
      const deadBefore = await redis.llen(tp.plane.keys.dead);
      const again = await client.submit({ env: { B: '2', A: '1' }, cmd: ['true'], image: 'alpine', type: 'trusted', id: 'sub-again' });
      assert.equal(again.alreadySubmitted, true);
      assert.equal(await redis.llen(tp.plane.keys.queue), 0);
      assert.equal(await redis.llen(tp.plane.keys.dead), deadBefore, 'no duplicate dead-lettered');
    });

    it('refuses the same id with a different spec (DuplicateIdError), leaving the recorded workload as it was', async () => {
      await client.submit(spec('sub-taken', ['true']));
      const recorded = await redis.hget(tp.plane.keys.workload('sub-taken'), 'spec');
      await assert.rejects(client.submit(spec('sub-taken', ['rm', '-rf', '/'])), (error: unknown) => error instanceof DuplicateIdError && error.code === 'DUPLICATE_ID');
      assert.equal(await redis.hget(tp.plane.keys.workload('sub-taken'), 'spec'), recorded);
      assert.equal(await redis.llen(tp.plane.keys.queue), 0, 'nothing was pushed');
    });

    it('two programs racing with one id and different specs: one wins, the other is told DuplicateIdError', async () => {
      const results = await Promise.allSettled([client.submit(spec('sub-race', ['true'])), client.submit(spec('sub-race', ['false']))]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1, JSON.stringify(results));
      assert.ok(lost[0]!.reason instanceof DuplicateIdError, String(lost[0]!.reason));
      const recorded = JSON.parse((await redis.hget(tp.plane.keys.workload('sub-race'), 'spec'))!) as { cmd: string[] };
      assert.deepEqual(recorded.cmd, (won[0] as PromiseFulfilledResult<{ spec: { cmd: string[] } }>).value.spec.cmd, 'the winner is the one recorded');
    });

    it('two programs racing with one id and the same spec both succeed', async () => {
      const [a, b] = await Promise.all([client.submit(spec('sub-same', ['true'])), client.submit(spec('sub-same', ['true']))]);
      assert.deepEqual([a.id, b.id], ['sub-same', 'sub-same']);
    });

    it('refuses an invalid spec with intake\'s own reason, and pushes nothing', async () => {
      const bad = { id: 'Bad_Id', type: 'trusted', image: 'alpine', cmd: [], env: { LEASEHOLD_TOKEN: 'x' } };
      await assert.rejects(client.submit(bad as never), (error: unknown) => {
        assert.ok(error instanceof InvalidSpecError);
        assert.equal(error.kind, 'invalidSpec');
        assert.match(error.reason, /id: must be a DNS-1123 label/);
        assert.match(error.reason, /cmd: must hold at least the program to run/);
        assert.match(error.reason, /env\.LEASEHOLD_TOKEN: names starting with LEASEHOLD_ are reserved/);
        return true;
      });
      assert.equal(await redis.llen(tp.plane.keys.queue), 0);
    });

    it('says SubmissionRefusedError when the control plane dead-letters what the client let through (a smaller payload limit there)', async () => {
      const big = { ...spec('sub-big'), env: { PAYLOAD: 'x'.repeat(3_000) } };
      await assert.rejects(client.submit(big, { timeoutMs: 20_000 }), (error: unknown) => {
        assert.ok(error instanceof SubmissionRefusedError, String(error));
        assert.match(error.reason, /over the limit of 2048 bytes/);
        return true;
      });
    });

    it('gives up after timeoutMs when no control plane takes the queue, and says the entry is still there', async () => {
      const nobody = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: uniquePrefix() });
      try {
        await assert.rejects(nobody.submit(spec('sub-nobody'), { timeoutMs: 300 }), (error: unknown) => {
          assert.ok(error instanceof ClientTimeoutError);
          assert.match(error.message, /still in .*workload_queue: no control plane took it/);
          return true;
        });
        const controller = new AbortController();
        const submitting = nobody.submit(spec('sub-abandoned'), { signal: controller.signal });
        controller.abort(new Error('the caller gave up'));
        await assert.rejects(submitting, /the caller gave up/);
      } finally {
        await nobody.close();
      }
    });
  });

  describe('wait, status, cancel, logs', () => {
    it('wait resolves with the end reason and exit code', async () => {
      await client.submit(spec('wait-fails', ['sh', '-c', 'echo out; exit 3']));
      const end = await client.wait('wait-fails', { timeoutMs: 30_000 });
      assert.deepEqual([end.id, end.reason, end.exitCode], ['wait-fails', 'failed', 3]);
      assert.match((await client.logs('wait-fails')) ?? '', /out/);
    });

    it('wait on a workload that ended before the call resolves from its status', async () => {
      await client.submit(spec('wait-late', ['true']));
      await eventually(async () => assert.equal((await client.status('wait-late'))?.state, 'tornDown'), 30_000);
      const end = await client.wait('wait-late', { timeoutMs: 5_000 });
      assert.deepEqual([end.reason, end.exitCode], ['completed', 0]);
    });

    it('wait gives up at its timeout (ClientTimeoutError) and on abort (with the signal\'s reason)', async () => {
      await client.submit(spec('wait-long', ['sleep', '30']));
      await assert.rejects(client.wait('wait-long', { timeoutMs: 200 }), ClientTimeoutError);
      const controller = new AbortController();
      const waiting = client.wait('wait-long', { signal: controller.signal });
      controller.abort(new Error('the caller lost interest'));
      await assert.rejects(waiting, /the caller lost interest/);
      await client.cancel('wait-long');
    });

    it('cancel ends a running workload (reason cancelled); a second cancel is refused as already ended', async () => {
      await client.submit(spec('cancel-me', ['sleep', '30']));
      await eventually(async () => assert.equal((await client.status('cancel-me'))?.state, 'running'), 30_000);
      assert.deepEqual(await client.cancel('cancel-me'), { state: 'running' });
      const end = await client.wait('cancel-me', { timeoutMs: 30_000 });
      assert.equal(end.reason, 'cancelled');
      await assert.rejects(client.cancel('cancel-me'), (error: unknown) => error instanceof CancelRefusedError && error.state === 'tornDown' && !error.transient);
    });

    it('an id that is a subject pattern (a.*, >) is refused before anything is sent: it would reach other workloads', async () => {
      for (const id of ['cancel-me.*', '>', '*', 'a.b', 'x'.repeat(60)]) {
        await assert.rejects(client.cancel(id), InvalidIdError);
        await assert.rejects(client.status(id), InvalidIdError);
        await assert.rejects(client.logs(id), InvalidIdError);
        await assert.rejects(client.wait(id, { timeoutMs: 100 }), InvalidIdError);
        assert.throws(() => client.watch(id), InvalidIdError);
      }
      assert.throws(() => client.watch({ state: '>' as never }), /unknown state/);
    });

    it('an unknown id: status and logs are null, cancel is WorkloadNotFoundError', async () => {
      assert.equal(await client.status('never-submitted'), null);
      assert.equal(await client.logs('never-submitted'), null);
      await assert.rejects(client.cancel('never-submitted'), WorkloadNotFoundError);
    });
  });

  describe('watch', () => {
    it('one workload: its whole lifecycle once, in order, then the iteration ends', async () => {
      const watch = client.watch('watch-one');
      assert.deepEqual(await watch.ready, { history: true });
      await client.submit(spec('watch-one', ['true']));
      const seen: TransitionMessage[] = [];
      for await (const t of watch) seen.push(t);
      assert.deepEqual(seen.map((t) => [t.to, t.seq]), [['queued', 1], ['provisioning', 2], ['running', 3], ['expiring', 4], ['tornDown', 5]]);
    });

    it('one workload that ended before the watch began: replayed from history', async () => {
      await client.submit(spec('watch-late', ['true']));
      await client.wait('watch-late', { timeoutMs: 30_000 });
      const seen: string[] = [];
      for await (const t of client.watch('watch-late')) seen.push(t.to);
      assert.deepEqual(seen, ['queued', 'provisioning', 'running', 'expiring', 'tornDown']);
    });

    it('a filter by state sees only that state, and break stops the watch', async () => {
      const watch = client.watch({ state: 'running' });
      await watch.ready;
      await client.submit(spec('watch-state', ['true']));
      for await (const t of watch) {
        assert.equal(t.to, 'running');
        if (t.id === 'watch-state') break;
      }
    });

    it('close() ends the watches of a client, and its calls then throw', async () => {
      const other = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
      const watch = other.watch();
      await watch.ready;
      const iterating = (async () => {
        for await (const _ of watch) void _;
        return 'ended';
      })();
      await other.close();
      assert.equal(await iterating, 'ended');
      assert.throws(() => other.watch(), /closed/);
      await assert.rejects(other.status('x'), /closed/);
    });

    it('await using closes the client it declared', async () => {
      let watch;
      {
        await using scoped = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
        watch = scoped.watch();
        await watch.ready;
      }
      assert.deepEqual(await watch.next(), { value: undefined, done: true });
    });
  });
});

describe('the TypeScript client without history', () => {
  it('watches live on core NATS, and a watch of a finished workload ends instead of waiting for ever', async () => {
    // A NATS of its own: the other suite's control plane made a history stream on the shared one.
    const nats = await startNats();
    const tp = await startTestPlane({ redis: servers().redis, nats });
    const client = await Leasehold.connect({ redis: servers().redis.url, nats: nats.url, keyPrefix: tp.config.keyPrefix });
    try {
      const watch = client.watch('live-one');
      assert.deepEqual(await watch.ready, { history: false });
      await client.submit(spec('live-one', ['true']));
      const seen: string[] = [];
      for await (const t of watch) seen.push(t.to);
      assert.deepEqual(seen, ['queued', 'provisioning', 'running', 'expiring', 'tornDown']);
      const late: string[] = [];
      for await (const t of client.watch('live-one')) late.push(t.to);
      assert.deepEqual(late, []);
      await assert.rejects(client.watch('live-one', { history: 'required' }).ready, (error: unknown) => (error as { code?: string }).code === 'NO_HISTORY');
    } finally {
      await client.close();
      await tp.stop();
      await nats.stop();
    }
  });
});
