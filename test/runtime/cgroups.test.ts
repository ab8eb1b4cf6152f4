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
    const procs = groups.create('ghost', { memoryBytes: 64 * MIB, cpuMillis: 100, pids: 8, tmpBytes: MIB, shmBytes: MIB });
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

/** controller → group, from the v1 lines (`N:cpu,cpuacct:/path`) of a /proc/<pid>/cgroup. */
function v1Membership(text: string): Map<string, string> {
  const groups = new Map<string, string>();
  for (const [, controllers, path] of text.matchAll(/^\d+:([^:]+):(\/.*)$/gm)) for (const c of controllers!.split(',')) groups.set(c, path!);
  return groups;
}

/** Where this process's own group is for `controller`: its v1 hierarchy's, or the v2 one. */
function ownGroup(controller: string): string {
  const self = readFileSync('/proc/self/cgroup', 'utf8');
  const v1 = v1Membership(self).get(controller);
  if (v1 !== undefined && existsSync(join('/sys/fs/cgroup', controller, 'cgroup.procs'))) return join('/sys/fs/cgroup', controller, v1);
  return join('/sys/fs/cgroup', /^0::(\/.*)$/m.exec(self)?.[1] ?? '/');
}

/** A file of the workload's group, v1 (per controller) or v2 (one group); the first name that exists. */
function readGroupFile(stateDir: string, id: string, ...names: string[]): string {
  const scope = cgroupScope(stateDir);
  for (const name of names) {
    const controller = name.split('.')[0] === 'cgroup' ? 'memory' : name.split('.')[0]!;
    const own = ownGroup(controller);
    // v2 puts the groups under the control plane's own group or, when that is a leaf, its parent.
    for (const file of [join(own, 'leasehold', scope, `w-${id}`, name), join(dirname(own), 'leasehold', scope, `w-${id}`, name)]) {
      if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    }
  }
  throw new Error(`none of ${names.join(', ')} for ${id}`);
}

describe('per-sandbox cgroups: attacks of the second review', { skip: usable ? false : 'needs writable cgroups (root with v1, or delegated v2)' }, () => {
  it('tears down workloads whose ids name cgroup v1 control files (tasks, cgroup-procs, notify-on-release)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-cgroups-'));
    const runtime = new ProcessRuntime({ stateDir, graceMs: 200, launcher: bubblewrapLauncher({ cgroupScope: cgroupScope(stateDir) }) });
    const ids = ['tasks', 'cgroup-procs', 'notify-on-release'];
    try {
      for (const id of ids) await runtime.provision(id, { ...spec(id, 'sleep 300'), type: 'untrusted' });
      for (const id of ids) await runtime.teardown(id);
      for (const id of ids) assert.equal(existsSync(join(stateDir, 'bubblewrap', 'work', id)), false, `the workdir of ${id} is left`);
      assert.deepEqual(cgroupsFor(stateDir).ids(), []);
    } finally {
      for (const id of await runtime.list()) await runtime.teardown(id).catch(() => undefined);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it("puts a sandbox's cgroups under the control plane's own, so a limit on the control plane holds for its sandboxes, and removes them on close", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-cgroups-'));
    const runtime = new ProcessRuntime({ stateDir, graceMs: 200, launcher: bubblewrapLauncher({ cgroupScope: cgroupScope(stateDir) }) });
    try {
      await runtime.provision('nested', { ...spec('nested', 'sleep 300'), type: 'untrusted' });
      let pid = '';
      for (let i = 0; !pid; i++) {
        assert.ok(i < 200, 'the workload never joined its cgroup');
        pid = cgroupsFor(stateDir).ids().includes('nested') ? readGroupFile(stateDir, 'nested', 'cgroup.procs').split('\n')[0]! : '';
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const theirs = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const ours = readFileSync('/proc/self/cgroup', 'utf8');
      const v1Ours = v1Membership(ours);
      for (const controller of ['memory', 'pids', 'cpu']) {
        const own = v1Ours.get(controller) ?? /^0::(\/.*)$/m.exec(ours)![1]!;
        const sandboxed = v1Membership(theirs).get(controller) ?? /^0::(\/.*)$/m.exec(theirs)![1]!;
        const parent = own === '/' ? '' : own;
        assert.ok(
          sandboxed.startsWith(`${parent}/leasehold/`) || sandboxed.startsWith(`${dirname(parent)}/leasehold/`.replace('//', '/')),
          `${controller}: the sandbox is in ${sandboxed}, outside the control plane's ${own}`,
        );
      }
      await runtime.teardown('nested');
      await runtime.close();
      const scope = cgroupScope(stateDir);
      for (const controller of ['memory', 'pids', 'cpu']) {
        assert.equal(existsSync(join(ownGroup(controller), 'leasehold', scope)), false, `${controller}: the scope's group is left`);
      }
    } finally {
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

