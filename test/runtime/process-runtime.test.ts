import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { processesWith } from '../helpers/processes.js';
import { listen, runtimeConformance, spec } from './conformance.js';

function tempRuntime(graceMs = 500) {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-proc-'));
  const runtime = new ProcessRuntime({ stateDir, graceMs });
  return {
    runtime,
    stateDir,
    cleanup: async () => {
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

runtimeConformance('process', async () => {
  const { runtime, cleanup } = tempRuntime();
  await runtime.start();
  return { runtime, cleanup };
});

describe('process runtime', () => {
  it('runs a string cmd through /bin/sh -c with only the spec env, and keeps its output', async () => {
    const { runtime, cleanup } = tempRuntime();
    const events = listen(runtime);
    process.env.LEASEHOLD_TEST_SECRET = 'must-not-leak';
    try {
      await runtime.provision('env-1', spec('env-1', 'echo "greeting=$GREETING secret=${LEASEHOLD_TEST_SECRET:-none}"', { env: { GREETING: 'hi' } }));
      await events.exitOf('env-1');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal((await runtime.logs('env-1'))?.trim(), 'greeting=hi secret=none');
      await runtime.teardown('env-1');
      assert.equal((await runtime.logs('env-1'))?.trim(), 'greeting=hi secret=none', 'logs outlive teardown');
    } finally {
      delete process.env.LEASEHOLD_TEST_SECRET;
      await cleanup();
    }
  });

  it('refuses a command that does not exist, permanently', async () => {
    const { runtime, cleanup } = tempRuntime();
    try {
      await assert.rejects(runtime.provision('nope', spec('nope', ['/no/such/program'])), (error: Error & { transient?: boolean }) => {
        assert.match(error.message, /cannot start \/no\/such\/program: command not found/);
        assert.equal(error.transient, false);
        return true;
      });
    } finally {
      await cleanup();
    }
  });

  it('tears down the whole process tree, SIGKILLing what ignores SIGTERM', async () => {
    const { runtime, cleanup } = tempRuntime(300);
    const marker = `sleep 301.${process.pid}`;
    try {
      await runtime.provision('tree', spec('tree', `trap '' TERM; ${marker} & ${marker} & wait`));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(processesWith(marker).length, 2);
      await runtime.teardown('tree');
      assert.deepEqual(processesWith(marker), []);
    } finally {
      await cleanup();
    }
  });

  it('after a restart, reports a live process it cannot adopt, and stops it on teardown', async () => {
    const first = tempRuntime();
    const marker = `sleep 302.${process.pid}`;
    await first.runtime.provision('survivor', spec('survivor', [...marker.split(' ')]));
    // A new runtime on the same state dir is what a restarted control plane sees.
    const second = new ProcessRuntime({ stateDir: first.stateDir, graceMs: 300 });
    try {
      assert.deepEqual(await second.list(), ['survivor']);
      assert.deepEqual(await second.status('survivor'), { state: 'running', adoptable: false });
      await second.teardown('survivor');
      assert.deepEqual(processesWith(marker), []);
      assert.deepEqual(await second.status('survivor'), { state: 'notFound' });
    } finally {
      await first.cleanup();
    }
  });
});
