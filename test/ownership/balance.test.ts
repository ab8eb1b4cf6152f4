import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planBalance } from '../../src/ownership/balance.js';

const owners = (...runs: [string | null, number][]) => runs.flatMap(([owner, n]) => new Array<string | null>(n).fill(owner));
const held = (list: readonly (string | null)[], me: string) => new Set(list.flatMap((owner, shard) => (owner === me ? [shard] : [])));

describe('planBalance', () => {
  it('a lone replica takes every free shard', () => {
    const plan = planBalance({ me: 'a', members: ['a'], owners: owners([null, 64]), mine: new Set() });
    assert.equal(plan.acquire.length, 64);
    assert.deepEqual(plan.shed, []);
  });

  it('a holder of everything sheds exactly what a joiner is missing, and the joiner waits for them', () => {
    const list = owners(['a', 64]);
    const a = planBalance({ me: 'a', members: ['a', 'b'], owners: list, mine: held(list, 'a') });
    assert.equal(a.shed.length, 32);
    assert.deepEqual(a.acquire, []);
    const b = planBalance({ me: 'b', members: ['a', 'b'], owners: list, mine: new Set() });
    assert.deepEqual(b, { shed: [], acquire: [] }, 'nothing is taken from a live holder');
  });

  it('replicas at their share move nothing (no ping-pong), even when the split is 22/22/20', () => {
    const list = owners(['a', 22], ['b', 22], ['c', 20]);
    for (const me of ['a', 'b', 'c']) {
      assert.deepEqual(planBalance({ me, members: ['a', 'b', 'c'], owners: list, mine: held(list, me) }), { shed: [], acquire: [] }, me);
    }
  });

  it("leaves free shards to a listed member below its share, but takes them once nobody is missing any", () => {
    // c died: its shards are free, its membership not yet expired.
    const list = owners(['a', 22], ['b', 22], [null, 20]);
    assert.deepEqual(planBalance({ me: 'a', members: ['a', 'b', 'c'], owners: list, mine: held(list, 'a') }).acquire, []);
    // c's membership expired: a and b take up to 32 each.
    const after = planBalance({ me: 'a', members: ['a', 'b'], owners: list, mine: held(list, 'a') });
    assert.equal(after.acquire.length, 10);
    // b already took its share: a takes the rest, past its share, rather than leave shards unowned.
    const rest = owners(['a', 22], ['b', 32], [null, 10]);
    assert.equal(planBalance({ me: 'a', members: ['a', 'b'], owners: rest, mine: held(rest, 'a') }).acquire.length, 10);
  });

  it('treats a shard Redis still shows as ours, but that we fenced locally, as free to re-acquire', () => {
    const list = owners(['a', 4]);
    const plan = planBalance({ me: 'a', members: ['a'], owners: list, mine: new Set([0, 1]) });
    assert.deepEqual(new Set(plan.acquire), new Set([2, 3]));
  });

  it('two replicas racing for free shards prefer different ones', () => {
    const list = owners([null, 64]);
    const a = planBalance({ me: 'a', members: ['a', 'b'], owners: list, mine: new Set() }).acquire;
    const b = planBalance({ me: 'b', members: ['a', 'b'], owners: list, mine: new Set() }).acquire;
    const overlap = a.filter((shard) => b.includes(shard)).length;
    assert.ok(overlap < 24, `a and b want ${overlap} of the same 32 shards`);
  });
});
