import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, type AnyActorRef } from 'xstate';
import {
  createWorkloadMachine,
  restorable,
  type MachineSpec,
  type ProvisionResult,
  type WorkloadContext,
  type WorkloadEvent,
} from '../../machines/index.js';

const spec: MachineSpec = { id: 'test-1', type: 'trusted', maxLifetimeSeconds: 600 };
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

class Transient extends Error {
  readonly transient = true;
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

type Step<T> = () => Promise<T>;

interface Harness {
  clock: SimulatedClock;
  actor: ReturnType<typeof start>;
  provisionCalls: number[];
  teardownCalls: number;
  states: string[];
}

/**
 * Plays the supervisor's part: carries out the `provision` and `teardown` actions with scripted
 * outcomes and sends the results back as the `runtime.*` events the machine expects.
 */
function start(
  clock: SimulatedClock,
  provisions: Step<ProvisionResult>[],
  teardowns: Step<void>[],
  calls: { provision: number[]; teardown: number },
  snapshot?: unknown,
) {
  let self: { send(event: WorkloadEvent): void } | null = null;
  const machine = createWorkloadMachine({ now: () => clock.now(), random: () => 0.5 }).provide({
    actions: {
      provision: ({ context }) => {
        calls.provision.push(context.provisionAttempts);
        const next = provisions.shift() ?? (async () => ({ state: 'running' as const }));
        next().then(
          (result) => self?.send({ type: 'runtime.provisioned', result }),
          (error: Error & { transient?: boolean; retryAfterMs?: number }) =>
            self?.send({
              type: 'runtime.provisionFailed',
              error: error.message,
              transient: error.transient === true,
              ...(error.retryAfterMs ? { retryAfterMs: error.retryAfterMs } : {}),
            }),
        );
      },
      teardown: () => {
        calls.teardown++;
        const next = teardowns.shift() ?? (async () => undefined);
        next().then(
          () => self?.send({ type: 'runtime.tornDown' }),
          (error: Error) => self?.send({ type: 'runtime.teardownFailed', error: error.message }),
        );
      },
      // The supervisor's part: send the retry when the machine says it is due.
      armRetry: ({ context }) => {
        const type = context.phase === 'expiring' ? 'retry.teardown' : 'retry.provision';
        clock.setTimeout(() => self?.send({ type }), context.retryDueAt! - clock.now());
      },
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { spec, policy: { provisionTimeoutMs: 5_000, maxProvisionAttempts: 3, backoffBaseMs: 100, maxTeardownAttempts: 2 } },
    ...(snapshot ? { snapshot: snapshot as never } : {}),
  });
  self = actor;
  return actor;
}

function harness(provisions: Step<ProvisionResult>[] = [], teardowns: Step<void>[] = [], snapshot?: unknown): Harness {
  const clock = new SimulatedClock();
  clock.set(1_000_000);
  const calls = { provision: [] as number[], teardown: 0 };
  const actor = start(clock, provisions, teardowns, calls, snapshot);
  const states: string[] = [];
  actor.subscribe((s) => {
    const top = typeof s.value === 'string' ? s.value : Object.keys(s.value)[0]!;
    if (states.at(-1) !== top) states.push(top);
  });
  actor.start();
  return {
    clock,
    actor,
    provisionCalls: calls.provision,
    get teardownCalls() {
      return calls.teardown;
    },
    states,
  };
}

const ctx = (actor: AnyActorRef) => actor.getSnapshot().context as WorkloadContext;

describe('workload machine', () => {
  it('walks the whole lifecycle of a workload that exits 0', async () => {
    const h = harness();
    h.actor.send({ type: 'workload.admit' });
    await flush();
    assert.equal(ctx(h.actor).phase, 'running');
    h.clock.increment(1234);
    h.actor.send({ type: 'runtime.exited', exitCode: 0 });
    await flush();
    assert.deepEqual(h.states, ['queued', 'provisioning', 'running', 'expiring', 'tornDown']);
    const out = h.actor.getSnapshot().output!;
    assert.equal(out.reason, 'completed');
    assert.equal(out.exitCode, 0);
    assert.equal(out.durations.running, 1234);
    assert.equal(ctx(h.actor).seq, 5);
    assert.equal(ctx(h.actor).lastEvent, 'runtime.tornDown');
    assert.equal(h.teardownCalls, 1);
  });

  it('reports a non-zero exit as failed with its code', async () => {
    const h = harness();
    h.actor.send({ type: 'workload.admit' });
    await flush();
    h.actor.send({ type: 'runtime.exited', exitCode: 3 });
    await flush();
    const out = h.actor.getSnapshot().output!;
    assert.equal(out.reason, 'failed');
    assert.equal(out.exitCode, 3);
  });

  it("waits at least as long as the runtime was told to (Retry-After) before retrying", async () => {
    const throttled = async (): Promise<ProvisionResult> => {
      throw new Transient('429 too many requests', 2_000);
    };
    const h = harness([throttled]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    h.clock.increment(1_999);
    await flush();
    assert.equal(h.provisionCalls.length, 1, 'the 75 ms backoff is not enough: the server asked for 2 s');
    h.clock.increment(1);
    await flush();
    assert.equal(h.provisionCalls.length, 2);
    assert.equal(ctx(h.actor).phase, 'running');
  });

  it('retries transient provisioning errors with growing backoff, then runs', async () => {
    const fail = async (): Promise<ProvisionResult> => {
      throw new Transient('api busy');
    };
    const h = harness([fail, fail]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    assert.equal(h.provisionCalls.length, 1);
    // attempt 1 failed: backoff is 100ms * 2^0, equal jitter with random 0.5 → 75ms
    h.clock.increment(74);
    await flush();
    assert.equal(h.provisionCalls.length, 1, 'no retry before the backoff elapses');
    h.clock.increment(1);
    await flush();
    assert.equal(h.provisionCalls.length, 2);
    // attempt 2 failed: 200ms → 150ms
    h.clock.increment(149);
    await flush();
    assert.equal(h.provisionCalls.length, 2);
    h.clock.increment(1);
    await flush();
    assert.equal(h.provisionCalls.length, 3);
    assert.equal(ctx(h.actor).phase, 'running');
    assert.deepEqual(h.provisionCalls, [1, 2, 3]);
  });

  it('gives up after the last attempt and tears down what may exist', async () => {
    const fail = async (): Promise<ProvisionResult> => {
      throw new Transient('api busy');
    };
    const h = harness([fail, fail, fail]);
    h.actor.send({ type: 'workload.admit' });
    for (let i = 0; i < 3; i++) {
      await flush();
      h.clock.increment(1_000);
    }
    await flush();
    const out = h.actor.getSnapshot().output!;
    assert.equal(out.reason, 'failed');
    assert.match(out.error!, /provisioning failed: api busy/);
    assert.equal(h.provisionCalls.length, 3);
    assert.equal(h.teardownCalls, 1);
  });

  it('does not retry a permanent provisioning error', async () => {
    const h = harness([
      async () => {
        throw new Error('image not allowed');
      },
    ]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    await flush();
    assert.equal(h.provisionCalls.length, 1);
    assert.equal(h.actor.getSnapshot().output!.reason, 'failed');
  });

  it('times out a workload that never starts', async () => {
    const h = harness([async () => ({ state: 'pending' })]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    h.clock.increment(4_999);
    h.actor.send({ type: 'timer.provisionTimeout' });
    assert.equal(ctx(h.actor).phase, 'provisioning', 'an early timer event changes nothing');
    h.clock.increment(1);
    h.actor.send({ type: 'timer.provisionTimeout' });
    await flush();
    assert.equal(h.actor.getSnapshot().output!.reason, 'provisionTimeout');
    assert.equal(ctx(h.actor).lastEvent, 'runtime.tornDown');
  });

  it("names the runtime's last waiting reason when provisioning times out", async () => {
    const h = harness([async () => ({ state: 'pending' })]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    h.actor.send({ type: 'runtime.waiting', detail: 'ContainerCreating' });
    h.actor.send({ type: 'runtime.waiting', detail: 'ErrImagePull: image "does-not-exist" not found' });
    assert.equal(h.actor.getSnapshot().value, 'provisioning', 'waiting is not a transition');
    assert.equal(ctx(h.actor).seq, 2);
    h.clock.increment(5_000);
    h.actor.send({ type: 'timer.provisionTimeout' });
    await flush();
    assert.equal(h.actor.getSnapshot().output!.error, 'not running after 5s: ErrImagePull: image "does-not-exist" not found');
  });

  it('moves a pending workload to running when the runtime says so', async () => {
    const h = harness([async () => ({ state: 'pending' })]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    assert.equal(h.actor.getSnapshot().value, 'provisioning');
    assert.deepEqual(h.provisionCalls, [1], 'accepted and pending: provision is not called again');
    h.actor.send({ type: 'runtime.running' });
    assert.equal(ctx(h.actor).phase, 'running');
    assert.equal(ctx(h.actor).lastEvent, 'runtime.running');
  });

  for (const [event, reason] of [
    [{ type: 'lease.expired' }, 'leaseExpired'],
    [{ type: 'workload.cancel' }, 'cancelled'],
    [{ type: 'runtime.lost' }, 'lost'],
  ] as const) {
    it(`leaves running on ${event.type} with reason ${reason}`, async () => {
      const h = harness();
      h.actor.send({ type: 'workload.admit' });
      await flush();
      h.actor.send(event);
      assert.equal(ctx(h.actor).phase, 'expiring');
      assert.equal(ctx(h.actor).lastEvent, event.type);
      await flush();
      assert.equal(h.actor.getSnapshot().output!.reason, reason);
    });
  }

  it('ends a workload at its maximum lifetime', async () => {
    const h = harness();
    h.actor.send({ type: 'workload.admit' });
    await flush();
    assert.equal(ctx(h.actor).lifetimeDeadlineAt, 1_000_000 + 600_000, 'the deadline is an absolute time');
    h.clock.increment(599_999);
    h.actor.send({ type: 'timer.lifetime' });
    assert.equal(ctx(h.actor).phase, 'running');
    h.clock.increment(1);
    h.actor.send({ type: 'timer.lifetime' });
    assert.equal(ctx(h.actor).phase, 'expiring');
    assert.equal(ctx(h.actor).lastEvent, 'timer.lifetime');
    await flush();
    assert.equal(h.actor.getSnapshot().output!.reason, 'deadline');
  });

  it('retries a failed teardown, then ends', async () => {
    const h = harness([], [
      async () => {
        throw new Error('still there');
      },
    ]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    h.actor.send({ type: 'workload.cancel' });
    await flush();
    assert.equal(h.actor.getSnapshot().value, 'expiring');
    assert.equal(h.teardownCalls, 1, 'no retry before the backoff elapses');
    h.clock.increment(10_000);
    await flush();
    assert.equal(h.teardownCalls, 2);
    assert.equal(h.actor.getSnapshot().status, 'done');
  });

  it('records a teardown that keeps failing instead of looping forever', async () => {
    const boom = async () => {
      throw new Error('api down');
    };
    const h = harness([], [boom, boom]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    h.actor.send({ type: 'workload.cancel' });
    await flush();
    h.clock.increment(10_000);
    await flush();
    const out = h.actor.getSnapshot().output!;
    assert.equal(out.reason, 'cancelled');
    assert.match(out.error!, /teardown failed: api down/);
  });

  it('rejects or cancels a queued workload without provisioning it', () => {
    const rejected = harness();
    rejected.actor.send({ type: 'workload.reject', reason: 'no sandbox' });
    assert.equal(rejected.actor.getSnapshot().output!.reason, 'rejected');
    assert.equal(rejected.actor.getSnapshot().output!.error, 'no sandbox');
    const cancelled = harness();
    cancelled.actor.send({ type: 'workload.cancel' });
    assert.deepEqual(cancelled.states, ['queued', 'tornDown']);
    assert.equal(cancelled.provisionCalls.length + rejected.provisionCalls.length, 0);
  });

  it('ignores events that do not apply to the current state', async () => {
    const h = harness();
    h.actor.send({ type: 'lease.expired' });
    h.actor.send({ type: 'runtime.exited', exitCode: 1 });
    assert.equal(ctx(h.actor).phase, 'queued');
    assert.equal(ctx(h.actor).seq, 1);
  });
});

describe('workload machine, restored from a persisted snapshot', () => {
  /** Runs a workload to `state`, persists it through JSON, and restores it without its children. */
  async function persistedAt(prepare: (h: Harness) => Promise<void>) {
    // A teardown that never settles keeps an expiring workload expiring until it is persisted.
    const h = harness([async () => ({ state: 'pending' })], [() => new Promise<void>(() => {})]);
    await prepare(h);
    const persisted = JSON.parse(JSON.stringify(h.actor.getPersistedSnapshot())) as { children: unknown };
    h.actor.stop();
    persisted.children = {};
    return persisted;
  }

  it('keeps the absolute lifetime deadline across a restore, and honours it', async () => {
    const persisted = await persistedAt(async (h) => {
      h.actor.send({ type: 'workload.admit' });
      await flush();
      h.actor.send({ type: 'runtime.running' });
    });
    const r = harness([], [], persisted);
    // The restored clock starts at the same instant the run started; 600 s of lifetime remain.
    r.actor.send({ type: 'workload.reconcile', observed: { state: 'running', adoptable: true } });
    assert.equal(ctx(r.actor).phase, 'running');
    assert.equal(ctx(r.actor).seq, 3, 'a reconcile that confirms the state is not a transition');
    r.clock.increment(600_000);
    r.actor.send({ type: 'timer.lifetime' });
    assert.equal(ctx(r.actor).phase, 'expiring');
    await flush();
    assert.equal(r.actor.getSnapshot().output!.reason, 'deadline');
    assert.equal(r.provisionCalls.length, 0, 'never provisioned again');
  });

  it('provisions exactly once a workload the runtime never saw', async () => {
    const persisted = await persistedAt(async (h) => {
      h.actor.send({ type: 'workload.admit' });
    });
    const r = harness([], [], persisted);
    assert.equal(r.provisionCalls.length, 0, 'restoring alone does not provision');
    r.actor.send({ type: 'workload.reconcile', observed: { state: 'notFound' } });
    await flush();
    assert.equal(r.provisionCalls.length, 1);
    assert.equal(ctx(r.actor).phase, 'running');
  });

  it('ends as lost a running workload that cannot be re-adopted, and tears it down', async () => {
    const persisted = await persistedAt(async (h) => {
      h.actor.send({ type: 'workload.admit' });
      await flush();
      h.actor.send({ type: 'runtime.running' });
    });
    const r = harness([], [], persisted);
    r.actor.send({ type: 'workload.reconcile', observed: { state: 'running', adoptable: false } });
    await flush();
    assert.equal(r.actor.getSnapshot().output!.reason, 'lost');
    assert.equal(r.teardownCalls, 1);
  });

  it('takes the exit code a runtime observed while the control plane was away', async () => {
    const persisted = await persistedAt(async (h) => {
      h.actor.send({ type: 'workload.admit' });
      await flush();
      h.actor.send({ type: 'runtime.running' });
    });
    const r = harness([], [], persisted);
    r.actor.send({ type: 'workload.reconcile', observed: { state: 'exited', exitCode: 7 } });
    await flush();
    const out = r.actor.getSnapshot().output!;
    assert.deepEqual([out.reason, out.exitCode], ['failed', 7]);
  });

  it('tears down again a workload restored while expiring', async () => {
    const persisted = await persistedAt(async (h) => {
      h.actor.send({ type: 'workload.admit' });
      await flush();
      h.actor.send({ type: 'workload.cancel' });
    });
    const r = harness([], [], persisted);
    r.actor.send({ type: 'workload.reconcile', observed: { state: 'notFound' } });
    await flush();
    assert.equal(r.teardownCalls, 1);
    assert.equal(r.actor.getSnapshot().output!.reason, 'cancelled');
  });
  it('restores a snapshot written by 0.1, whose states were nested, and carries on from it', async () => {
    for (const [nested, top] of [
      [{ provisioning: 'creating' }, 'provisioning'],
      [{ provisioning: 'backoff' }, 'provisioning'],
      [{ expiring: 'retryWait' }, 'expiring'],
    ] as const) {
      const persisted = await persistedAt(async (h) => {
        h.actor.send({ type: 'workload.admit' });
        await flush();
        if (top === 'expiring') h.actor.send({ type: 'workload.cancel' });
      });
      const old = { ...(persisted as object), value: nested };
      const r = harness([], [], restorable(old));
      assert.equal(r.actor.getSnapshot().value, top, `${JSON.stringify(nested)} restores as ${top}`);
      r.actor.send({ type: 'workload.reconcile', observed: { state: 'notFound' } });
      await flush();
      if (top === 'provisioning') assert.deepEqual([r.provisionCalls.length, ctx(r.actor).phase], [1, 'running']);
      else assert.deepEqual([r.teardownCalls, r.actor.getSnapshot().output!.reason], [1, 'cancelled']);
    }
  });
});

describe('workload machine, retries', () => {
  it('ignores a retry that is not due, so provision is never called twice for one failure', async () => {
    const h = harness([async () => ({ state: 'pending' })]);
    h.actor.send({ type: 'workload.admit' });
    await flush();
    assert.deepEqual(h.provisionCalls, [1]);
    h.actor.send({ type: 'retry.provision' });
    h.actor.send({ type: 'retry.teardown' });
    await flush();
    assert.deepEqual(h.provisionCalls, [1], 'a stale retry changes nothing');
    assert.equal(ctx(h.actor).phase, 'provisioning');
  });
});
