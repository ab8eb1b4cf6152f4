import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSameProcessAlive } from '../../src/runtime/process/pid-files.js';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { eventually } from '../helpers/eventually.js';

const PROCESS_RUNTIME = new URL('../../src/runtime/process/process-runtime.js', import.meta.url).href;
const SPEC = new URL('../../src/spec/index.js', import.meta.url).href;

/** Running (a zombie is not: its orphan may wait for a reaper that never comes in a container). */
const alive = (pid: number) => isSameProcessAlive(pid, '');

/**
 * A control plane (the process runtime, in a child process of its own) that starts workload `id`,
 * runs an exec in it which leaves a process behind in the background, and prints the pids of the
 * workload, the exec's command and what it left: then waits to be killed.
 */
async function crashingPlane(stateDir: string, id: string): Promise<{ kill(): Promise<void>; pids: { workload: number; exec: number; left: number } }> {
  const script = `
    const { ProcessRuntime } = await import(${JSON.stringify(PROCESS_RUNTIME)});
    const { parseSubmission } = await import(${JSON.stringify(SPEC)});
    const runtime = new ProcessRuntime({ stateDir: ${JSON.stringify(stateDir)}, graceMs: 200 });
    await runtime.start();
    const { spec } = parseSubmission(JSON.stringify({ id: ${JSON.stringify(id)}, type: 'trusted', image: 'alpine', cmd: ['sleep', '600'] }));
    await runtime.provision(spec.id, spec);
    let out = '';
    const output = { stdout: (chunk) => { out += Buffer.from(chunk).toString(); const m = /exec (\\d+) left (\\d+)/.exec(out); if (m) console.log(JSON.stringify({ exec: Number(m[1]), left: Number(m[2]) })); }, stderr: () => {} };
    void runtime.exec(spec.id, { cmd: ['sh', '-c', 'sleep 600 & echo exec $$ left $!; exec sleep 600'] }, output, new AbortController().signal);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  await eventually(() => assert.match(text, /"left"/), 15_000);
  const { exec, left } = JSON.parse(text.trim().split('\n').at(-1)!) as { exec: number; left: number };
  const pidDir = join(stateDir, 'process', 'pids');
  const workload = (JSON.parse(readFileSync(join(pidDir, readdirSync(pidDir)[0]!), 'utf8')) as { pid: number }).pid;
  return {
    pids: { workload, exec, left },
    async kill() {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    },
  };
}

describe('adversary: a control plane killed with -9 while an exec runs in a trusted workload', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-crash-exec-'));
  const leftovers: number[] = [];
  after(() => {
    for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('stops what the exec runs, and what it left in the background, when the next control plane stops the workload', async () => {
    const plane = await crashingPlane(stateDir, 'crash-exec');
    const { workload, exec, left } = plane.pids;
    leftovers.push(workload, exec, left);
    await plane.kill();
    assert.ok(alive(workload) && alive(exec) && alive(left), 'kill -9 of the control plane leaves its processes running');

    // The next control plane finds the workload by its pid file, cannot adopt it, and stops it.
    const next = new ProcessRuntime({ stateDir, graceMs: 200 });
    await next.start();
    assert.deepEqual(await next.status('crash-exec'), { state: 'running', adoptable: false });
    await next.teardown('crash-exec');
    await eventually(() => assert.equal(alive(workload), false, 'the workload is stopped'));
    // What the exec started is the workload's too: "killed when the workload is torn down".
    await eventually(() => assert.deepEqual({ exec: alive(exec), left: alive(left) }, { exec: false, left: false }), 3_000);
    await next.close();
  });
});
