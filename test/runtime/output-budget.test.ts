import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { listen, spec } from './conformance.js';

const KIB = 1024;

describe('workload output', () => {
  it("reads a flooding workload's output no faster than its budget, so the flood slows the workload, not the control plane", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-output-'));
    // One budget per minute: whatever is read beyond it in this test was read without a budget.
    const runtime = new ProcessRuntime({ stateDir, graceMs: 200, logTailBytes: 4 * KIB, outputRate: { bytesPerWindow: 64 * KIB, windowMs: 60_000 } });
    const events = listen(runtime);
    try {
      await runtime.provision('chatty', spec('chatty', 'head -c 50M /dev/zero; echo finished'));
      for (let i = 0; (runtime.outputBytesRead('chatty') ?? 0) < 64 * KIB; i++) {
        assert.ok(i < 400, 'the budget was never used');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // Time for an unthrottled reader to take megabytes; the throttled one takes nothing more.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const read = runtime.outputBytesRead('chatty')!;
      // The budget, plus at most one chunk (64 KiB) per pipe that arrived before the pause.
      assert.ok(read <= 64 * KIB + 2 * 64 * KIB, `read ${read} bytes`);
      assert.equal(events.events.some((e) => e.id === 'chatty' && e.event.type === 'runtime.exited'), false, 'the writer is held back');
      await runtime.teardown('chatty');
      assert.ok(((await runtime.logs('chatty')) ?? '').length > 0, 'the tail is kept');
    } finally {
      events.stop();
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
