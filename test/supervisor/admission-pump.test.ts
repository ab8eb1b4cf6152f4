import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ShardGrant } from '../../src/ownership/ownership.js';
import { AdmissionPump } from '../../src/supervisor/admission-pump.js';
import { WorkloadRegistry } from '../../src/supervisor/workload-registry.js';
import { entryOf, specOf } from './fakes.js';

const grant: ShardGrant = { shard: 0, epoch: 1 };

function setUp(limits = { trusted: 2, untrusted: 1 }, maxPending = 3) {
  const workloads = new WorkloadRegistry();
  const pump = new AdmissionPump(limits, maxPending, workloads);
  let told = 0;
  pump.onCapacity(() => told++);
  /** Registers a queued workload and lines it up for a slot. */
  const queue = (id: string, type: 'trusted' | 'untrusted' = 'trusted') => {
    const made = entryOf(specOf(id, { type }), grant, null);
    workloads.add(made.entry);
    pump.enqueue(made.entry);
    return made;
  };
  return { workloads, pump, queue, told: () => told };
}

describe('admission: per-type slots, and backpressure towards intake', () => {
  it('admits up to the limit of each type, in the order they came; the others wait', () => {
    const { pump, queue } = setUp();
    const a = queue('a');
    const b = queue('b');
    const c = queue('c');
    const u = queue('u', 'untrusted');
    pump.pumpAll();
    assert.deepEqual([a, b, c, u].map(({ actor }) => actor.types.length), [1, 1, 0, 1]);
    assert.deepEqual(a.actor.types, ['workload.admit']);
    assert.equal(c.entry.admitted, false);
  });

  it('a slot freed by a workload that ended goes to the next of its type at once, and intake is told it may send more', () => {
    const { pump, queue, told } = setUp();
    const a = queue('a');
    queue('b');
    const c = queue('c');
    pump.pumpAll();
    pump.finished(a.entry);
    assert.deepEqual(c.actor.types, ['workload.admit']);
    assert.equal(told(), 1);
  });

  it('a workload that left the queue before its turn (cancelled) gives its slot straight back', () => {
    const { workloads, pump, queue } = setUp({ trusted: 1, untrusted: 1 });
    const first = queue('first');
    const cancelled = queue('cancelled');
    const third = queue('third');
    pump.pumpAll();
    cancelled.entry.state = 'tornDown';
    workloads.remove('cancelled');
    pump.finished(first.entry);
    assert.deepEqual(cancelled.actor.types, []);
    assert.deepEqual(third.actor.types, ['workload.admit'], 'the slot skipped the cancelled one');
  });

  it('capacity counts waiting workloads only: past maxPending, intake is told nothing until one is admitted', () => {
    const { pump, queue, told } = setUp({ trusted: 1, untrusted: 1 }, 2);
    const first = queue('first');
    pump.pumpAll();
    queue('second');
    queue('third');
    assert.equal(pump.capacity(), 0);
    pump.notifyCapacity();
    assert.equal(told(), 0);
    pump.finished(first.entry); // second is admitted: one waits
    assert.equal(pump.capacity(), 1);
    assert.equal(told(), 1);
  });

  it('a workload restored past queued holds its slot, so that new ones do not overshoot the limit', () => {
    const { workloads, pump, queue } = setUp({ trusted: 1, untrusted: 1 });
    const restored = entryOf(specOf('restored'), grant, null, 'running');
    workloads.add(restored.entry);
    pump.occupy(restored.entry);
    const fresh = queue('fresh');
    pump.pumpAll();
    assert.deepEqual(fresh.actor.types, []);
    pump.release(restored.entry); // its shard was handed over
    pump.pumpAll();
    assert.deepEqual(fresh.actor.types, ['workload.admit']);
  });
});
