import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SHARD_COUNT, fnv1a32, memberKeys, shardKeys, shardOf } from '../../src/ownership/shards.js';

describe('shardOf', () => {
  it('is FNV-1a 32 over UTF-8, so any language computes the same shard (values from a Python reference)', () => {
    // Standard FNV-1a test vectors, then ids whose shards are pinned for other implementations.
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
    const pinned: [string, number, number][] = [
      ['test-1', 0x174815cb, 11],
      ['workload-42', 0x96f21e85, 5],
      ['ünïcode-id', 0x5349f77f, 63],
      ['😀', 0x33a29608, 8],
      ['job/Ж', 0x9a8cb4f7, 55],
    ];
    for (const [id, hash, shard] of pinned) {
      assert.equal(fnv1a32(id), hash, id);
      assert.equal(shardOf(id, DEFAULT_SHARD_COUNT), shard, id);
    }
  });

  it('spreads 10,000 ids within ±20 % of uniform over 64 shards', () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 10_000; i++) counts[shardOf(`workload-${i}`, 64)]!++;
    const uniform = 10_000 / 64;
    for (const [shard, count] of counts.entries()) {
      assert.ok(Math.abs(count - uniform) <= uniform * 0.2, `shard ${shard} got ${count}, uniform is ${uniform}`);
    }
  });

  it('refuses a shard count that would divide by zero or exceed the slot count', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 16385]) assert.throws(() => shardOf('x', bad), /shard count/);
  });
});

describe('key layout', () => {
  const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];

  it("puts every key of a shard under the shard's own hash tag, and membership under one tag", () => {
    const seen = new Set<string>();
    for (const shard of [0, 1, 17, 63]) {
      const keys = Object.values(shardKeys('app:', shard));
      assert.deepEqual(new Set(keys.map(tag)), new Set([`s${shard}`]));
      seen.add(tag(keys[0]!)!);
    }
    assert.equal(seen.size, 4, 'shards do not share a tag');
    const members = memberKeys('app:');
    assert.deepEqual(new Set([members.set, members.changes, members.shardCount, members.replica('r-1')].map(tag)), new Set(['members']));
  });

  it('keeps the tag per shard even when the prefix itself contains braces', () => {
    // Redis hashes the first {…}; a prefix with an unclosed brace must not merge two shards' slots.
    const a = shardKeys('we{ird:', 1);
    const b = shardKeys('we{ird:', 2);
    const slotText = (key: string) => key.slice(key.indexOf('{') + 1, key.indexOf('}'));
    assert.equal(slotText(a.owner), slotText(a.inbox));
    assert.notEqual(slotText(a.owner), slotText(b.owner));
  });
});
