import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';
import { RuntimeEffects } from '../../src/supervisor/runtime-effects.js';
import { WorkloadRegistry } from '../../src/supervisor/workload-registry.js';
import { FakeFlushes, ManualRuntime, entryOf, settle, specOf } from './fakes.js';

const grant: ShardGrant = { shard: 5, epoch: 2 };

/** Runtime effects over one registry; `grantValid` answers what whileInDoubt would settle on. */
function setUp(options: { grantValid?: boolean; adoptable?: boolean; heartbeat?: boolean } = {}) {
  const flushes = new FakeFlushes();
  const workloads = new WorkloadRegistry();
  const runtime = new ManualRuntime(options.adoptable ?? false);
  const errors: string[] = [];
  const effects = new RuntimeEffects({
    store: flushes,
    grants: { whileInDoubt: async () => options.grantValid ?? true },
    workloads,
    heartbeat: options.heartbeat ? { envFor: (id, run) => ({ LEASEHOLD_TOKEN: `${id}/${run}` }) } : null,
    runtimeError: (name) => errors.push(name),
    log: silentLogger,
  });
  return { flushes, workloads, runtime, effects, errors };
}

describe('runtime effects: provision and teardown carried out on the runtime, one call at a time per workload', () => {
  it('provisions only once the record saying so is durable: a crash before that never leaves a workload started but recorded queued', async () => {
    const { flushes, workloads, runtime, effects } = setUp();
    const { entry, actor } = entryOf(specOf('w1'), grant, runtime);
    workloads.add(entry);
    effects.provision('w1');
    await settle();
    assert.deepEqual(runtime.calls, [], 'the runtime was called before the save was in Redis');
    flushes.open.resolve();
    await settle();
    assert.deepEqual(runtime.calls, ['provision w1']);
    runtime.finishProvision('w1');
    await settle();
    assert.deepEqual(actor.types, ['runtime.provisioned']);
  });

  it('a replica fenced before the record was durable never provisions: the next owner does, exactly once', async () => {
    const { flushes, workloads, runtime, effects } = setUp({ grantValid: false });
    const { entry, actor } = entryOf(specOf('w1'), grant, runtime);
    workloads.add(entry);
    effects.provision('w1');
    flushes.open.resolve();
    await settle();
    await settle();
    assert.deepEqual(runtime.calls, []);
    assert.deepEqual(actor.types, [], 'the actor is told nothing: it is being stopped');
  });

  it('a workload handed over while its record was being written is not provisioned by the replica that let it go', async () => {
    const { flushes, workloads, runtime, effects } = setUp();
    const { entry } = entryOf(specOf('w1'), grant, runtime);
    workloads.add(entry);
    effects.provision('w1');
    workloads.remove('w1');
    flushes.open.resolve();
    await settle();
    assert.deepEqual(runtime.calls, []);
  });

  it('a teardown asked for during the provision waits for it: the runtime never sees a teardown overtake the create', async () => {
    const { flushes, workloads, runtime, effects } = setUp();
    const { entry, actor } = entryOf(specOf('w1'), grant, runtime);
    workloads.add(entry);
    flushes.open.resolve();
    effects.provision('w1');
    await settle();
    effects.teardown('w1'); // cancelled while the Pod is being created
    await settle();
    assert.deepEqual(runtime.calls, ['provision w1']);
    runtime.finishProvision('w1');
    await settle();
    await settle();
    assert.deepEqual(runtime.calls, ['provision w1', 'provisioned w1', 'teardown w1']);
    assert.deepEqual(actor.types, ['runtime.provisioned', 'runtime.tornDown']);
  });

  it('tears down only once the end is on record, and never under a grant let go of meanwhile: the next owner never meets a Pod deleted behind its back', async () => {
    const durable = setUp();
    const { entry, actor } = entryOf(specOf('w1'), grant, durable.runtime, 'expiring');
    durable.workloads.add(entry);
    durable.effects.teardown('w1');
    await settle();
    assert.deepEqual(durable.runtime.calls, [], 'the runtime was told before the expiring save was in Redis');
    durable.flushes.open.resolve();
    await settle();
    await settle();
    assert.deepEqual(durable.runtime.calls, ['teardown w1']);
    assert.deepEqual(actor.types, ['runtime.tornDown']);

    const fenced = setUp({ grantValid: false });
    const other = entryOf(specOf('w2'), grant, fenced.runtime, 'expiring');
    fenced.workloads.add(other.entry);
    fenced.effects.teardown('w2');
    fenced.flushes.open.resolve();
    await settle();
    await settle();
    assert.deepEqual(fenced.runtime.calls, [], 'a fenced replica deleted the Pod its successor still calls running');
    assert.deepEqual(other.actor.types, []);
  });

  it('a failed provision reaches the actor as a failure and is counted against the runtime', async () => {
    const { flushes, workloads, effects, errors } = setUp();
    const { entry, actor } = entryOf(specOf('w1'), grant, null); // routed nowhere
    workloads.add(entry);
    flushes.open.resolve();
    effects.provision('w1');
    await settle();
    assert.deepEqual(actor.types, ['runtime.provisionFailed']);
    assert.deepEqual(errors, ['none']);
  });

  it('a self-heartbeating workload is given its heartbeat credentials; a runtime-renewed one is given none', async () => {
    const { flushes, workloads, runtime, effects } = setUp({ heartbeat: true });
    workloads.add(entryOf(specOf('beats', { heartbeat: 'self' }), grant, runtime).entry);
    workloads.add(entryOf(specOf('quiet'), grant, runtime).entry);
    flushes.open.resolve();
    effects.provision('beats');
    effects.provision('quiet');
    await settle();
    assert.deepEqual(runtime.envs, [{ LEASEHOLD_TOKEN: 'beats/run-1' }, {}]);
  });

  it('a local process of a shard let go of is stopped after its provision, and a new owner here can wait for that', async () => {
    const { flushes, workloads, runtime, effects } = setUp();
    const { entry } = entryOf(specOf('w1'), grant, runtime, 'provisioning');
    workloads.add(entry);
    flushes.open.resolve();
    effects.provision('w1');
    await settle();
    const stopped = effects.stopLocal(entry);
    assert.ok(stopped, 'a local process must be stopped: no other replica can adopt it');
    assert.equal(effects.stoppingOf('w1'), stopped);
    await settle();
    assert.deepEqual(runtime.calls, ['provision w1'], 'stopped before it was even started');
    runtime.finishProvision('w1');
    await stopped;
    assert.deepEqual(runtime.calls, ['provision w1', 'provisioned w1', 'teardown w1']);
    assert.equal(effects.stoppingOf('w1'), undefined);
  });

  it('what another replica can adopt (a Pod), or what never started, is left alone on handover', () => {
    const pods = setUp({ adoptable: true });
    const running = entryOf(specOf('pod'), grant, pods.runtime, 'running').entry;
    assert.equal(pods.effects.stopLocal(running), null);
    const local = setUp();
    for (const state of ['queued', 'tornDown', null] as const) {
      assert.equal(local.effects.stopLocal(entryOf(specOf('w'), grant, local.runtime, state).entry), null, `state ${state}`);
    }
    assert.deepEqual([...pods.runtime.calls, ...local.runtime.calls], []);
  });
});
