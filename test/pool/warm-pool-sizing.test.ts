import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { WarmPool, type MemberHost } from '../../src/pool/warm-pool.js';

/** A runtime whose members start when the test says, on a clock the test moves. */
function harness(template: string) {
  let now = 1_000_000;
  const pending = new Map<string, (state: 'running') => void>();
  const removed: string[] = [];
  const failing = { on: false };
  const host: MemberHost = {
    provision: (id) =>
      failing.on ? Promise.reject(new Error('image pull failed')) : new Promise((resolve) => pending.set(id, (state) => resolve({ state }))),
    teardown: async (id) => void removed.push(id),
  };
  const pool = new WarmPool(parsePoolOption(template), host, 'feedface', () => now, silentLogger);
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    pool,
    removed,
    failing,
    pending,
    advance: (ms: number) => (now += ms),
    /** Every member asked for starts after `ms`. */
    async startAll(ms = 0) {
      now += ms;
      for (const [id, start] of pending) {
        pending.delete(id);
        start('running');
      }
      await settle();
    },
    settle,
  };
}

describe('a warm pool sizes itself from demand', () => {
  it('fills to its size, hands each member out once, and refills what was claimed', async () => {
    const h = harness('trusted:alpine:size=3');
    h.pool.tick();
    assert.equal(h.pending.size, 3, 'three members asked for at start');
    await h.startAll(100);
    assert.equal(h.pool.stats().ready, 3);
    const claimed = [h.pool.claim(), h.pool.claim()];
    assert.equal(new Set(claimed).size, 2, 'two different members');
    assert.equal(h.pool.stats().inUse, 2);
    h.pool.tick();
    assert.equal(h.pending.size, 2, 'the two claimed are replaced, not returned');
    await h.startAll(100);
    const next = [h.pool.claim(), h.pool.claim(), h.pool.claim()];
    assert.equal(next.some((id) => claimed.includes(id)), false, 'a claimed member is never handed out again');
    assert.equal(h.pool.claim(), null, 'empty: a miss');
    assert.deepEqual({ hits: h.pool.stats().hits, misses: h.pool.stats().misses }, { hits: 5, misses: 1 });
  });

  it('grows toward max when claims come faster than members start, and no further', async () => {
    const h = harness('trusted:alpine:size=2:max=10');
    h.pool.tick();
    await h.startAll(2_000); // members take 2 s to start
    assert.equal(h.pool.target(), 2);
    // 60 claims in a minute, 1 a second: a 2 s start needs 2 × 1/s × 2 s = 4 ready.
    for (let i = 0; i < 60; i++) {
      h.pool.claim();
      h.advance(1_000);
    }
    assert.equal(h.pool.target(), 4);
    for (let i = 0; i < 600; i++) h.pool.claim(); // a flood: bounded by max
    assert.equal(h.pool.target(), 10);
  });

  it('shrinks to min once idle, removing the ready members beyond it, and comes back on the next claim', async () => {
    const h = harness('trusted:alpine:size=3:min=1:idle=60');
    h.pool.tick();
    await h.startAll(100);
    h.advance(61_000);
    h.pool.tick();
    assert.equal(h.pool.target(), 1);
    assert.equal(h.pool.stats().ready, 1);
    assert.equal(h.removed.length, 2, 'the two beyond min were torn down');
    h.pool.claim();
    assert.equal(h.pool.target(), 3, 'demand again: back to its size');
  });

  it('backs off after a member fails to start, rather than retry in a tight loop', async () => {
    const h = harness('trusted:alpine:size=2');
    h.failing.on = true;
    h.pool.tick();
    await h.settle();
    assert.equal(h.pool.stats().starting, 0);
    h.failing.on = false;
    h.pool.tick();
    assert.equal(h.pending.size, 0, 'within the backoff, nothing is started');
    h.advance(60_000);
    h.pool.tick();
    assert.equal(h.pending.size, 2, 'after it, the pool fills again');
  });

  it('gives up on a member that never starts, and replaces a ready one that dies while idle', async () => {
    const h = harness('trusted:alpine:size=1');
    h.pool.tick();
    const [stuck] = [...h.pending.keys()];
    h.advance(121_000);
    h.pool.tick();
    assert.ok(h.removed.includes(stuck!), 'the stuck member is torn down');
    h.advance(60_000);
    h.pool.tick();
    await h.startAll(10);
    const [ready] = [...(h.pool as unknown as { readyQueue: string[] }).readyQueue];
    h.pool.gone(ready!, 'exited with 137');
    assert.equal(h.pool.stats().ready, 0);
    h.pool.tick();
    assert.equal(h.pending.size, 1, 'replaced');
  });
});
