import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ProvisionResult } from '../../machines/index.js';
import { silentLogger } from '../../src/log.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';
import type { ProvisionContext } from '../../src/runtime/runtime.js';
import type { WorkloadSpec } from '../../src/spec/index.js';
import { RuntimeEffects } from '../../src/supervisor/runtime-effects.js';
import { WorkloadRegistry } from '../../src/supervisor/workload-registry.js';
import { FakeFlushes, ManualRuntime, entryOf, settle, specOf } from '../supervisor/fakes.js';

/**
 * A workload's runtime call in flight is now let go (entry.inflight = null) from the call's own
 * handlers, before its outcome reaches the actor. These put a cancel, a retry and a shard handover
 * at the edges of that window and look at what the runtime saw, in order: a teardown that reaches
 * the runtime before the create returned leaves a Pod or process running that nobody owns.
 */
const grant: ShardGrant = { shard: 3, epoch: 1 };

/** A runtime whose first provision of an id fails (a transient API error), later ones wait for the test. */
class FlakyRuntime extends ManualRuntime {
  private readonly failed = new Set<string>();
  override async provision(id: string, spec: WorkloadSpec, context?: ProvisionContext): Promise<ProvisionResult> {
    if (!this.failed.has(id)) {
      this.failed.add(id);
      this.calls.push(`provision ${id} failed`);
      throw Object.assign(new Error('the API server is unavailable'), { transient: true });
    }
    return super.provision(id, spec, context);
  }
}

function setUp() {
  const flushes = new FakeFlushes();
  flushes.open.resolve();
  const workloads = new WorkloadRegistry();
  const effects = new RuntimeEffects({
    store: flushes,
    grants: { whileInDoubt: async () => true },
    workloads,
    heartbeat: null,
    runtimeError: () => undefined,
    log: silentLogger,
  });
  return { workloads, effects };
}

describe('adversary: teardown racing a provision in flight', () => {
  it('a cancel the actor acts on inside the provisioned hand-off tears down after the create, once', async () => {
    const runtime = new ManualRuntime();
    const { workloads, effects } = setUp();
    const { entry, actor } = entryOf(specOf('w1'), grant, runtime, 'provisioning');
    workloads.add(entry);
    // The machine, cancelled while provisioning, answers runtime.provisioned by entering expiring
    // at once: the teardown is asked for synchronously, from within the provision's own handler.
    const send = actor.send.bind(actor);
    actor.send = (event) => {
      send(event);
      if (event.type === 'runtime.provisioned') effects.teardown('w1');
    };
    effects.provision('w1');
    await settle();
    runtime.finishProvision('w1');
    for (let i = 0; i < 4; i++) await settle();
    assert.deepEqual(runtime.calls, ['provision w1', 'provisioned w1', 'teardown w1']);
    assert.deepEqual(actor.types, ['runtime.provisioned', 'runtime.tornDown']);
    assert.equal(entry.inflight, null, 'nothing is held once both calls settled');
  });

  it('a retried provision cancelled mid-flight is torn down only after the retry returned', async () => {
    const runtime = new FlakyRuntime();
    const { workloads, effects } = setUp();
    const { entry, actor } = entryOf(specOf('w2'), grant, runtime, 'provisioning');
    workloads.add(entry);
    effects.provision('w2');
    for (let i = 0; i < 3; i++) await settle();
    assert.deepEqual(actor.types, ['runtime.provisionFailed']);
    assert.equal(entry.inflight, null, 'the failed attempt is let go');
    effects.provision('w2'); // retry.provision re-entering provisioning
    await settle();
    effects.teardown('w2'); // workload.cancel while the retry creates it
    for (let i = 0; i < 3; i++) await settle();
    assert.deepEqual(runtime.calls, ['provision w2 failed', 'provision w2'], 'the teardown overtook the retried create');
    runtime.finishProvision('w2');
    for (let i = 0; i < 4; i++) await settle();
    assert.deepEqual(runtime.calls, ['provision w2 failed', 'provision w2', 'provisioned w2', 'teardown w2']);
  });

  it('a shard handed over while a retried provision is in flight stops the local process after it started, and a late cancel waits too', async () => {
    const runtime = new FlakyRuntime();
    const { workloads, effects } = setUp();
    const { entry } = entryOf(specOf('w3'), grant, runtime, 'provisioning');
    workloads.add(entry);
    effects.provision('w3');
    for (let i = 0; i < 3; i++) await settle();
    effects.provision('w3');
    await settle();
    const stopped = effects.stopLocal(entry);
    assert.ok(stopped);
    effects.teardown('w3');
    for (let i = 0; i < 3; i++) await settle();
    assert.deepEqual(runtime.calls, ['provision w3 failed', 'provision w3'], 'stopped before the retry started it: it would run on, unowned');
    runtime.finishProvision('w3');
    await stopped;
    for (let i = 0; i < 4; i++) await settle();
    assert.equal(runtime.calls.indexOf('provisioned w3'), 2, 'every teardown came after the create returned');
    assert.deepEqual(runtime.calls.slice(3), ['teardown w3', 'teardown w3']);
  });
});
