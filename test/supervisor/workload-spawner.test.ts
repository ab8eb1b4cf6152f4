import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock } from 'xstate';
import { createWorkloadMachine, type LifecycleState } from '../../machines/index.js';
import { createLogger, silentLogger } from '../../src/log.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';
import { WorkloadRegistry } from '../../src/supervisor/workload-registry.js';
import { WorkloadSpawner } from '../../src/supervisor/workload-spawner.js';
import { specOf } from './fakes.js';

const grant: ShardGrant = { shard: 1, epoch: 1 };

/** A spawner over the real machine, whose provision fails transiently until told otherwise. */
function setUp() {
  const clock = new SimulatedClock();
  const provisions: string[] = [];
  const transitions: string[] = [];
  const workloads = new WorkloadRegistry();
  const machine = createWorkloadMachine({ now: () => clock.now(), random: () => 0.5 }).provide({
    actions: {
      provision: ({ context, self }) => {
        provisions.push(context.id);
        transitions.push(`provision ${context.id}`);
        queueMicrotask(() => self.send({ type: 'runtime.provisionFailed', error: 'busy', transient: true }));
      },
      teardown: () => undefined,
      // As WorkloadDeadlines does: the retry is sent when due.
      armRetry: ({ context, self }) => {
        clock.setTimeout(() => self.send({ type: 'retry.provision' }), context.retryDueAt! - clock.now());
      },
    },
  });
  const spawner = new WorkloadSpawner({
    machine,
    policy: { backoffBaseMs: 100 },
    clock,
    workloads,
    router: { route: () => ({ rejection: 'unused' }) },
    admission: { enqueue: () => undefined },
    onTransition: (entry, _from, to: LifecycleState) => transitions.push(`${entry.spec.id}:${to}`),
    log: silentLogger,
  });
  return { clock, provisions, transitions, workloads, spawner };
}

describe('workload spawner: every workload actor in one shared actor system', () => {
  it('runs each workload on its own and announces its transitions', async () => {
    const { spawner, transitions } = setUp();
    const a = spawner.spawn(specOf('a'), null, 'r', grant);
    spawner.spawn(specOf('b'), null, 'r', grant);
    a.actor.send({ type: 'workload.cancel' });
    assert.deepEqual(transitions, ['a:queued', 'b:queued', 'a:tornDown']);
    assert.equal(a.actor.getSnapshot().status, 'done');
  });

  it('announces a state before its effect runs, so the transition is saved before the runtime is called', async () => {
    const { spawner, transitions } = setUp();
    const entry = spawner.spawn(specOf('w'), null, 'r', grant);
    entry.actor.send({ type: 'workload.admit' });
    assert.deepEqual(transitions, ['w:queued', 'w:provisioning', 'provision w']);
  });

  it('stops an actor waiting out a backoff: its retry never fires, and it takes no more events', async () => {
    const { clock, spawner, provisions } = setUp();
    const entry = spawner.spawn(specOf('w'), null, 'r', grant);
    entry.actor.send({ type: 'workload.admit' });
    await Promise.resolve();
    assert.deepEqual(provisions, ['w'], 'provisioned once, failed, backing off');
    clock.increment(10);
    spawner.stop(entry);
    assert.equal(entry.actor.getSnapshot().status, 'stopped');
    clock.increment(60_000);
    entry.actor.send({ type: 'workload.cancel' });
    await Promise.resolve();
    assert.deepEqual(provisions, ['w'], 'a stopped workload was provisioned again');
    assert.equal(entry.actor.getSnapshot().context.phase, 'provisioning');
  });

  it('keeps backing off the workloads it did not stop', async () => {
    const { clock, spawner, provisions } = setUp();
    const stopped = spawner.spawn(specOf('stopped'), null, 'r', grant);
    const kept = spawner.spawn(specOf('kept'), null, 'r', grant);
    stopped.actor.send({ type: 'workload.admit' });
    kept.actor.send({ type: 'workload.admit' });
    await Promise.resolve();
    spawner.stop(stopped);
    clock.increment(60_000);
    await Promise.resolve();
    assert.deepEqual(provisions, ['stopped', 'kept', 'kept'], 'the kept one retries after its backoff; the stopped one does not');
  });

  it('acts on nothing more for a workload let go of (handed over): the actor runs on until stopped, unannounced', async () => {
    const { spawner, transitions } = setUp();
    const entry = spawner.spawn(specOf('gone'), null, 'r', grant);
    entry.detached = true;
    entry.actor.send({ type: 'workload.cancel' });
    assert.deepEqual(transitions, ['gone:queued']);
  });

  it('logs, with the workload id, an actor whose effect threw, and goes on with the others', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'error', destination: { write: (line: string) => void lines.push(line) } });
    const machine = createWorkloadMachine().provide({
      actions: {
        provision: ({ context }) => {
          if (context.id === 'broken') throw new Error('runtime exploded');
        },
        teardown: () => undefined,
      },
    });
    const transitions: string[] = [];
    const spawner = new WorkloadSpawner({
      machine,
      policy: undefined,
      clock: new SimulatedClock(),
      workloads: new WorkloadRegistry(),
      router: { route: () => ({ rejection: 'unused' }) },
      admission: { enqueue: () => undefined },
      onTransition: (entry, _from, to: LifecycleState) => transitions.push(`${entry.spec.id}:${to}`),
      log,
    });
    const broken = spawner.spawn(specOf('broken'), null, 'r', grant);
    const fine = spawner.spawn(specOf('fine'), null, 'r', grant);
    broken.actor.send({ type: 'workload.admit' });
    fine.actor.send({ type: 'workload.admit' });
    assert.equal(broken.actor.getSnapshot().status, 'error');
    assert.ok(transitions.includes('fine:provisioning'));
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; actor: string; err: { message: string } });
    assert.deepEqual(
      logged.map((l) => [l.msg, l.actor, l.err.message]),
      [['workload actor failed', 'broken', 'runtime exploded']],
    );
  });
});
