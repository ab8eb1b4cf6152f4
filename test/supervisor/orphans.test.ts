import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock } from 'xstate';
import type { LifecycleState } from '../../machines/index.js';
import { silentLogger } from '../../src/log.js';
import { OrphanCollector } from '../../src/supervisor/orphans.js';
import type { StoredWorkload } from '../../src/supervisor/ports.js';
import { ManualRuntime, specOf } from './fakes.js';

const GRACE_MS = 60_000;

function setUp(records: Record<string, LifecycleState>, drivenHere: string[] = []) {
  const runtime = new ManualRuntime();
  const clock = new SimulatedClock();
  const store = {
    load: async (id: string): Promise<StoredWorkload | null> => {
      const state = records[id];
      return state ? { id, spec: specOf(id), state, snapshot: null, run: 'r', replica: 'other' } : null;
    },
  };
  const collector = new OrphanCollector({ all: () => [runtime] }, store, (id) => drivenHere.includes(id), clock, silentLogger);
  return { runtime, clock, collector };
}

describe('orphan collection: only what no replica claims, and only after a grace period', () => {
  it('never tears down what another replica drives: Redis says it is unfinished', async () => {
    const { runtime, clock, collector } = setUp({ theirs: 'running', 'queued-elsewhere': 'queued' });
    runtime.held = ['theirs', 'queued-elsewhere'];
    assert.equal(await collector.collect(GRACE_MS), 0);
    clock.increment(GRACE_MS * 10);
    assert.equal(await collector.collect(GRACE_MS), 0);
    assert.deepEqual(runtime.calls, []);
  });

  it('never tears down a workload driven here, even before its record reached Redis', async () => {
    const { runtime, clock, collector } = setUp({}, ['mine']);
    runtime.held = ['mine'];
    clock.increment(GRACE_MS * 10);
    assert.equal(await collector.collect(0), 0);
    assert.deepEqual(runtime.calls, []);
  });

  it('tears down what is finished or unknown only once it has stayed so for the grace period', async () => {
    const { runtime, clock, collector } = setUp({ ended: 'tornDown' });
    runtime.held = ['ended', 'unknown'];
    assert.equal(await collector.collect(GRACE_MS), 0, 'first seen: it may be a record on its way');
    clock.increment(GRACE_MS - 1);
    assert.equal(await collector.collect(GRACE_MS), 0);
    clock.increment(1);
    assert.equal(await collector.collect(GRACE_MS), 2);
    assert.deepEqual(runtime.calls, ['teardown ended', 'teardown unknown']);
  });
});
