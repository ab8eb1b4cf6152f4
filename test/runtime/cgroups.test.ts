import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bubblewrapLauncher, DEFAULT_SANDBOX_LIMITS } from '../../src/runtime/process/bubblewrap.js';
import { cgroupScope, openCgroups } from '../../src/runtime/process/cgroups.js';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { spec } from './conformance.js';

const MIB = 2 ** 20;

/** This host's cgroups as the sandbox would use them; the tests below need them (root, v1 or delegated v2). */
function cgroupsFor(stateDir: string) {
  const groups = openCgroups(cgroupScope(stateDir));
  assert.ok('description' in groups, `no usable cgroup on this host: ${'unavailable' in groups ? groups.unavailable : ''}`);
  return groups;
}

const probe = openCgroups(cgroupScope('/probe'));
const usable = 'description' in probe;
if ('description' in probe) probe.removeScope();

describe('per-sandbox cgroups', { skip: usable ? false : 'needs writable cgroups (root with v1, or delegated v2)' }, () => {
  it("holds a spec to the operator's maximums however much it asks for, and leaves no group after teardown", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-cgroups-'));
    const limits = { ...DEFAULT_SANDBOX_LIMITS, maxMemoryBytes: 128 * MIB, maxCpuMillis: 500, pids: 32 };
    const runtime = new ProcessRuntime({ stateDir, graceMs: 200, launcher: bubblewrapLauncher({ limits, cgroupScope: cgroupScope(stateDir) }) });
    try {
      await runtime.provision('greedy', { ...spec('greedy', 'echo $$; sleep 300'), type: 'untrusted', resources: { memory: '100Gi', cpu: '64' } });
      let procs = '';
      for (let i = 0; !procs; i++) {
        assert.ok(i < 200, 'the workload never joined its cgroup');
        procs = cgroupsFor(stateDir).ids().includes('greedy') ? readGroupFile(stateDir, 'greedy', 'cgroup.procs') : '';
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const memory = Number(readGroupFile(stateDir, 'greedy', 'memory.limit_in_bytes', 'memory.max'));
      assert.equal(memory, 128 * MIB);
      const cpu = readGroupFile(stateDir, 'greedy', 'cpu.cfs_quota_us', 'cpu.max');
      assert.match(cpu, /^50000\b/, 'half a core: 50 ms per 100 ms');
      assert.equal(readGroupFile(stateDir, 'greedy', 'pids.max').trim(), '32');
      await runtime.teardown('greedy');
      assert.deepEqual(cgroupsFor(stateDir).ids(), []);
    } finally {
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('on start, kills and removes the cgroups of sandboxes that no pid file remembers (a crash left them)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-cgroups-'));
    const groups = cgroupsFor(stateDir);
    const procs = groups.create('ghost', { memoryBytes: 64 * MIB, cpuMillis: 100, pids: 8, tmpBytes: MIB });
    // What a crash between "joined the cgroup" and "wrote the pid file" leaves behind.
    const ghost = spawn('/bin/sh', ['-c', 'for f in "$@"; do echo $$ > "$f"; done; exec sleep 300', 'ghost', ...procs], { stdio: 'ignore' });
    const gone = once(ghost, 'exit');
    try {
      for (let i = 0; !readFileSync(procs[0]!, 'utf8').trim(); i++) {
        assert.ok(i < 200, 'the ghost never joined its cgroup');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const runtime = new ProcessRuntime({ stateDir, launcher: bubblewrapLauncher({ cgroupScope: cgroupScope(stateDir) }) });
      await runtime.start();
      const [, signal] = await gone;
      assert.equal(signal, 'SIGKILL');
      assert.deepEqual(groups.ids(), []);
      await runtime.close();
      for (const file of procs) assert.equal(existsSync(dirname(file)), false, dirname(file));
    } finally {
      ghost.kill('SIGKILL');
      await groups.remove('ghost');
      groups.removeScope();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

/** A file of the workload's group, v1 (per controller) or v2 (one group); the first name that exists. */
function readGroupFile(stateDir: string, id: string, ...names: string[]): string {
  const scope = cgroupScope(stateDir);
  for (const name of names) {
    const controller = name.split('.')[0] === 'cgroup' ? 'memory' : name.split('.')[0]!;
    for (const file of [join('/sys/fs/cgroup', controller, 'leasehold', scope, id, name), join('/sys/fs/cgroup', 'leasehold', scope, id, name)]) {
      if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    }
  }
  throw new Error(`none of ${names.join(', ')} for ${id}`);
}
