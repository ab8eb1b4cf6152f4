import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LifecycleState } from '../../machines/index.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';
import { LeaseSignals } from '../../src/supervisor/lease-signals.js';
import type { StoredWorkload } from '../../src/supervisor/ports.js';
import { WorkloadRegistry } from '../../src/supervisor/workload-registry.js';
import { ManualRuntime, entryOf, specOf } from './fakes.js';

const grant: ShardGrant = { shard: 1, epoch: 1 };

/** `elsewhere`: what Redis holds for workloads another replica drives. */
function setUp(elsewhere: Record<string, LifecycleState> = {}) {
  const workloads = new WorkloadRegistry();
  const renewedHere: string[] = [];
  const renewedKeys: { id: string; ttlMs: number }[] = [];
  const expired: string[] = [];
  const signals = new LeaseSignals({
    workloads,
    keeper: { renew: (id) => (renewedHere.push(id), true) },
    store: {
      load: async (id): Promise<StoredWorkload | null> => {
        const state = elsewhere[id];
        return state ? { id, spec: specOf(id, { leaseSeconds: 45 }), state, snapshot: null, run: `run-of-${id}`, replica: 'peer' } : null;
      },
    },
    leases: {
      renewKey: async (id, ttlMs) => {
        renewedKeys.push({ id, ttlMs });
      },
    },
    observers: [{ leaseExpired: (id) => expired.push(id) }],
  });
  return { workloads, signals, renewedHere, renewedKeys, expired };
}

describe('lease signals: heartbeats reach any replica, lapses reach the owner', () => {
  it('a heartbeat for a workload another replica drives renews its lease in Redis, for as long as its spec says', async () => {
    const { signals, renewedKeys, renewedHere } = setUp({ elsewhere: 'running' });
    assert.equal(await signals.heartbeat('elsewhere'), true);
    assert.deepEqual(renewedKeys, [{ id: 'elsewhere', ttlMs: 45_000 }]);
    assert.deepEqual(renewedHere, []);
  });

  it('a heartbeat for a workload that is not running (ended, queued, or unknown) renews nothing and says so', async () => {
    const { signals, renewedKeys } = setUp({ ended: 'tornDown', waiting: 'queued' });
    for (const id of ['ended', 'waiting', 'unknown']) assert.equal(await signals.heartbeat(id), false, id);
    assert.deepEqual(renewedKeys, []);
  });

  it('a heartbeat for a workload driven here renews it here only while it runs', async () => {
    const { workloads, signals, renewedHere, renewedKeys } = setUp();
    workloads.add(entryOf(specOf('up'), grant, new ManualRuntime(), 'running').entry);
    workloads.add(entryOf(specOf('starting'), grant, new ManualRuntime(), 'provisioning').entry);
    assert.equal(await signals.heartbeat('up'), true);
    assert.equal(await signals.heartbeat('starting'), false);
    assert.deepEqual(renewedHere, ['up']);
    assert.deepEqual(renewedKeys, []);
  });

  it('the run a heartbeat token must be bound to is the live one, here or in Redis; a finished workload has none', async () => {
    const { workloads, signals } = setUp({ ended: 'tornDown', elsewhere: 'running' });
    workloads.add(entryOf(specOf('here'), grant, null, 'running').entry);
    assert.equal(await signals.runOf('here'), 'run-1');
    assert.equal(await signals.runOf('elsewhere'), 'run-of-elsewhere');
    assert.equal(await signals.runOf('ended'), null);
    assert.equal(await signals.runOf('unknown'), null);
  });

  it('a lapse reaches the actor of a workload driven here and is counted only if it was running', () => {
    const { workloads, signals, expired } = setUp();
    const running = entryOf(specOf('up'), grant, null, 'running');
    const expiring = entryOf(specOf('draining'), grant, null, 'expiring');
    workloads.add(running.entry);
    workloads.add(expiring.entry);
    signals.lapsed(['up', 'draining', 'not-here']);
    assert.deepEqual(running.actor.types, ['lease.expired']);
    assert.deepEqual(expiring.actor.types, ['lease.expired'], 'the actor, not the reaper, decides what a lapse means');
    assert.deepEqual(expired, ['up']);
  });
});
