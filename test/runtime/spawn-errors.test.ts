import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runtimeModule = fileURLToPath(new URL('../../src/runtime/process/process-runtime.js', import.meta.url));

/**
 * Run in a process of its own whose descriptor limit is low: it uses up every descriptor, as 19,950
 * idle HTTP connections did in issue 10, and provisions; then frees them and provisions again.
 */
const CHILD = `
import { closeSync, openSync } from 'node:fs';
const { ProcessRuntime } = await import(process.argv[2]);
const runtime = new ProcessRuntime({ stateDir: process.argv[3] });
await runtime.start();
const spec = { id: 'busy', type: 'trusted', image: 'x', cmd: ['true'], env: {}, resources: {}, leaseSeconds: 30, maxLifetimeSeconds: 60, labels: {}, heartbeat: 'runtime' };
const exited = new Promise((resolve) => runtime.watch((id, event) => event.type === 'runtime.exited' && resolve(event.exitCode)));
const filler = [];
try {
  for (;;) filler.push(openSync('/dev/null', 'r'));
} catch (error) {
  if (error.code !== 'EMFILE') throw error;
}
let first;
try {
  await runtime.provision('busy', spec);
  first = { started: true };
} catch (error) {
  first = { name: error.name, code: error.code, transient: error.transient, message: error.message };
}
for (const fd of filler) closeSync(fd);
await runtime.provision('busy', spec);
const second = { exitCode: await exited };
await runtime.teardown('busy');
console.log(JSON.stringify({ first, second }));
`;

describe('spawn failures', () => {
  it('reports a spawn that ran out of file descriptors (EMFILE) as transient, so provisioning retries it, and the retry runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-emfile-'));
    try {
      const script = join(dir, 'child.mjs');
      writeFileSync(script, CHILD);
      const out = execFileSync('prlimit', ['--nofile=512', '--', process.execPath, script, runtimeModule, join(dir, 'state')], { encoding: 'utf8', timeout: 30_000 });
      const { first, second } = JSON.parse(out) as { first: Record<string, unknown>; second: { exitCode: number } };
      assert.equal(first.name, 'RuntimeError', JSON.stringify(first));
      assert.equal(first.code, 'SPAWN_FAILED');
      assert.equal(first.transient, true, `a full descriptor table is not the workload's fault: ${JSON.stringify(first)}`);
      assert.match(String(first.message), /EMFILE/);
      assert.equal(second.exitCode, 0, 'once descriptors are free again, the same provision runs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
