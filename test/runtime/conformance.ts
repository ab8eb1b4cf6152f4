import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RuntimeEvent, WorkloadRuntime } from '../../src/runtime/runtime.js';
import { eventually } from '../helpers/eventually.js';
import { parseSubmission, type WorkloadSpec } from '../../src/spec/index.js';

export function spec(id: string, cmd: string[] | string, extra: Record<string, unknown> = {}): WorkloadSpec {
  const result = parseSubmission(JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd, ...extra }));
  if (!result.ok) throw new Error(result.reason);
  return result.spec;
}

/** Collects what a runtime pushes, and waits for a given event. */
export function listen(runtime: WorkloadRuntime) {
  const events: { id: string; event: RuntimeEvent }[] = [];
  const stop = runtime.watch((id, event) => events.push({ id, event }));
  return {
    events,
    stop,
    async exitOf(id: string, timeoutMs = 10_000): Promise<Extract<RuntimeEvent, { type: 'runtime.exited' }>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find((e) => e.id === id && e.event.type === 'runtime.exited');
        if (found) return found.event as Extract<RuntimeEvent, { type: 'runtime.exited' }>;
        if (Date.now() > deadline) throw new Error(`no exit event for ${id}; saw ${JSON.stringify(events)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

/**
 * The contract every WorkloadRuntime adapter must honour (see src/runtime/runtime.ts).
 * `long` is a command that keeps running until torn down; `fails` exits with code 3.
 */
export function runtimeConformance(
  name: string,
  make: () => Promise<{ runtime: WorkloadRuntime; cleanup: () => Promise<void> }>,
  commands: { ok: string[]; fails: string[]; long: string[] } = {
    ok: ['true'],
    fails: ['sh', '-c', 'exit 3'],
    long: ['sleep', '300'],
  },
): void {
  describe(`WorkloadRuntime conformance: ${name}`, () => {
    it('runs a workload and reports its exit code without being polled', async () => {
      const { runtime, cleanup } = await make();
      const events = listen(runtime);
      try {
        const accepted = await runtime.provision('conf-ok', spec('conf-ok', commands.ok));
        assert.ok(['running', 'pending'].includes(accepted.state), `provision answered ${JSON.stringify(accepted)}`);
        assert.equal((await events.exitOf('conf-ok')).exitCode, 0);
        await runtime.provision('conf-fail', spec('conf-fail', commands.fails));
        assert.equal((await events.exitOf('conf-fail')).exitCode, 3);
        assert.deepEqual(await runtime.status('conf-fail'), { state: 'exited', exitCode: 3 });
        await runtime.teardown('conf-ok');
        await runtime.teardown('conf-fail');
      } finally {
        events.stop();
        await cleanup();
      }
    });

    it('provisions idempotently: a second provision of a live workload starts nothing new', async () => {
      const { runtime, cleanup } = await make();
      try {
        await runtime.provision('conf-idem', spec('conf-idem', commands.long));
        await runtime.provision('conf-idem', spec('conf-idem', commands.long));
        assert.deepEqual(await runtime.list(), ['conf-idem']);
        // Some runtimes start asynchronously (a Pod is Pending first); they say so with an event.
        await eventually(async () => assert.deepEqual(await runtime.status('conf-idem'), { state: 'running', adoptable: true }));
        await runtime.teardown('conf-idem');
      } finally {
        await cleanup();
      }
    });

    it('tears down idempotently, and forgets what it tore down', async () => {
      const { runtime, cleanup } = await make();
      try {
        await runtime.provision('conf-down', spec('conf-down', commands.long));
        await runtime.teardown('conf-down');
        await runtime.teardown('conf-down');
        await runtime.teardown('never-existed');
        assert.deepEqual(await runtime.status('conf-down'), { state: 'notFound' });
        assert.deepEqual(await runtime.list(), []);
      } finally {
        await cleanup();
      }
    });
  });
}
