import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock } from 'xstate';
import type { TransitionMessage } from '../../src/events/transition.js';
import { silentLogger } from '../../src/log.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';
import { IN_DOUBT_RETRY_MS } from '../../src/supervisor/held-grants.js';
import { PublishQueue } from '../../src/supervisor/publish-queue.js';
import { FakeFlushes, FakeGrants, message, seen, settle } from './fakes.js';

const first: ShardGrant = { shard: 3, epoch: 1 };
const second: ShardGrant = { shard: 9, epoch: 4 };

function setUp() {
  const flushes = new FakeFlushes();
  const grants = new FakeGrants();
  grants.set(first, 'held');
  grants.set(second, 'held');
  const published: TransitionMessage[] = [];
  const clock = new SimulatedClock();
  const queue = new PublishQueue(flushes, { publish: (m) => published.push(m) }, grants, clock, silentLogger);
  return { flushes, grants, published, clock, queue };
}

describe('the publish queue: a transition goes out only after its own save is durable, under a grant still held', () => {
  it('a transition whose save went into a later flush is not published when an earlier flush lands', async () => {
    const { flushes, grants, published, queue } = setUp();
    queue.enqueue(message('a', 'queued', 1), first);
    const earlier = flushes.nextFlush(); // b's save needs the next flush
    queue.enqueue(message('b', 'queued', 1), first);
    earlier.resolve();
    await settle();
    assert.deepEqual(seen(published), ['a:queued'], "b's save is not in Redis yet: nobody may hear of it");
    // b's save is refused: the replica was fenced. Its successor will publish b's `queued`.
    grants.set(first, 'ended');
    flushes.open.resolve();
    await settle();
    assert.deepEqual(seen(published), ['a:queued'], 'a fenced replica published a transition whose save was refused');
  });

  it('batches go out in the order they were made, even when a later flush is durable first', async () => {
    const { flushes, published, queue } = setUp();
    queue.enqueue(message('a', 'queued', 1), first);
    const earlier = flushes.nextFlush();
    queue.enqueue(message('a', 'provisioning', 2), first);
    queue.enqueue(message('b', 'queued', 1), second);
    flushes.open.resolve();
    await settle();
    assert.deepEqual(published, [], 'nothing may overtake the earlier batch');
    earlier.resolve();
    await settle();
    assert.deepEqual(seen(published), ['a:queued', 'a:provisioning', 'b:queued']);
  });

  it('transitions made within one flush go out together, in the order they were made', async () => {
    const { flushes, published, queue } = setUp();
    for (let seq = 1; seq <= 3; seq++) queue.enqueue(message('a', (['queued', 'provisioning', 'running'] as const)[seq - 1]!, seq), first);
    queue.enqueue(message('b', 'queued', 1), second);
    flushes.open.resolve();
    await settle();
    assert.deepEqual(seen(published), ['a:queued', 'a:provisioning', 'a:running', 'b:queued']);
  });

  it('a grant in doubt holds its workloads back in order until it is renewed, without holding up other shards', async () => {
    const { flushes, grants, published, clock, queue } = setUp();
    grants.set(first, 'doubt');
    queue.enqueue(message('a', 'queued', 1), first);
    queue.enqueue(message('b', 'queued', 1), second);
    flushes.open.resolve();
    await settle();
    assert.deepEqual(seen(published), ['b:queued']);

    // The renewal has not been answered yet: a's later transition, durable meanwhile, waits behind.
    flushes.nextFlush();
    queue.enqueue(message('a', 'provisioning', 2), first);
    flushes.open.resolve();
    await settle();
    clock.increment(IN_DOUBT_RETRY_MS);
    await settle();
    assert.deepEqual(seen(published), ['b:queued']);

    grants.set(first, 'held');
    clock.increment(IN_DOUBT_RETRY_MS);
    await settle();
    assert.deepEqual(seen(published), ['b:queued', 'a:queued', 'a:provisioning'], 'held back in order, released once renewed');
  });

  it('what waits under a grant in doubt is never published once the grant is lost, even if the shard comes back', async () => {
    const { flushes, grants, published, clock, queue } = setUp();
    grants.set(first, 'doubt');
    queue.enqueue(message('a', 'queued', 1), first);
    flushes.open.resolve();
    await settle();
    queue.dropGrant(first);
    grants.set(first, 'held'); // a stale epoch reported as held again must not matter: it was dropped
    clock.increment(IN_DOUBT_RETRY_MS);
    await settle();
    assert.deepEqual(published, []);
  });

  it('a grant ended while in doubt drops its transitions even without being dropped explicitly', async () => {
    const { flushes, grants, published, clock, queue } = setUp();
    grants.set(first, 'doubt');
    queue.enqueue(message('a', 'queued', 1), first);
    flushes.open.resolve();
    await settle();
    grants.set(first, 'ended');
    clock.increment(IN_DOUBT_RETRY_MS);
    await settle();
    clock.increment(IN_DOUBT_RETRY_MS);
    await settle();
    assert.deepEqual(published, []);
  });

  it('a flush that failed publishes none of its transitions, and later batches still go out', async () => {
    const { flushes, published, queue } = setUp();
    queue.enqueue(message('a', 'queued', 1), first);
    const failed = flushes.nextFlush();
    queue.enqueue(message('b', 'queued', 1), second);
    failed.reject(new Error('Redis went away'));
    flushes.open.resolve();
    await settle();
    await settle();
    assert.deepEqual(seen(published), ['b:queued']);
  });
  it("a finished workload leaves its shard's unfinished only once its end is published; an end dropped with its grant stays for the next owner", async () => {
    const { flushes, grants, published, queue } = setUp();
    queue.enqueue(message('a', 'tornDown', 5), first);
    queue.enqueue(message('b', 'tornDown', 5), second);
    grants.set(second, 'ended'); // fenced after b's end was saved, before it was published
    flushes.open.resolve();
    await settle();
    assert.deepEqual(seen(published), ['a:tornDown']);
    assert.deepEqual(flushes.announcedIds, ['a'], "b stays among the unfinished: its next owner announces its end");
  });
});
