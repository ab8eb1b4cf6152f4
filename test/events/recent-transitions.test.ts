import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecentTransitions, transitionHeaders } from '../../src/events/recent-transitions.js';
import type { TransitionMessage } from '../../src/events/transition.js';

const transition = (id: string, seq: number): TransitionMessage => ({ id, type: 'trusted', from: null, to: 'queued', event: 'x', at: new Date(seq).toISOString(), seq });

describe('the transitions kept for sending again after an outage', () => {
  it('are the last few seconds before it, however long the outage lasts', () => {
    let now = 0;
    const recent = new RecentTransitions({ windowMs: 1_000, maxCount: 100 }, () => now);
    for (let i = 1; i <= 30; i++) {
      now = i * 100;
      recent.add(transition('a', i));
    }
    now += 3_600_000; // an hour down: nothing is sent, so nothing ages out
    assert.deepEqual(recent.takeAll().map((t) => t.seq), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    assert.deepEqual(recent.takeAll(), [], 'taken once');
  });

  it('are bounded in number during a burst', () => {
    const recent = new RecentTransitions({ windowMs: 10_000, maxCount: 50 }, () => 0);
    for (let i = 1; i <= 5_000; i++) recent.add(transition(`w${i}`, 1));
    const kept = recent.takeAll();
    assert.equal(kept.length, 50);
    assert.equal(kept[0]!.id, 'w4951');
  });

  it('carry a message id that is the same for a copy and differs for a new run of the same id', () => {
    const id = (t: TransitionMessage) => transitionHeaders(t).get('Nats-Msg-Id');
    assert.equal(id(transition('a', 1)), id(transition('a', 1)));
    assert.notEqual(id(transition('a', 1)), id({ ...transition('a', 1), at: new Date(5_000).toISOString() }));
    assert.notEqual(id(transition('a', 1)), id(transition('a', 2)));
  });
});
