import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { spec } from '../runtime/conformance.js';
import { eventually } from '../helpers/eventually.js';
import { startKube, type KubeHarness } from './kube-harness.js';

/** The kubectl on PATH, or another one to check against. */
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl against the fake, feeding `input` to its stdin. */
function kubectl(kube: KubeHarness, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, ['--kubeconfig', kube.kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A Pod of ours that runs until deleted, Running. */
async function runningPod(kube: KubeHarness, id: string): Promise<void> {
  const runtime = await kube.startedRuntime();
  await runtime.provision(id, spec(id, ['sleep', '3600']));
  await eventually(() => assert.equal(kube.api.get('jobs', `job-${id}`)?.status.phase, 'Running'));
}

describe('kubectl exec against the fake API server', () => {
  let kube: KubeHarness;
  before(async () => {
    kube = await startKube();
    await runningPod(kube, 'x');
  });
  after(() => kube.stop());

  it('shows the command’s stdout and stderr apart, and exits with its exit code', async () => {
    const run = await kubectl(kube, ['exec', 'job-x', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(run.stdout, 'out\n');
    assert.match(run.stderr, /^err\n/);
    assert.equal(run.code, 3, run.stderr);
    assert.equal(kube.api.count('create pods/exec'), 1);
  });

  it('passes stdin through with -i, and its end reaches the command', async () => {
    const run = await kubectl(kube, ['exec', '-i', 'job-x', '--', 'sh', '-c', 'tr a-z A-Z; echo done'], 'hello from stdin\n');
    assert.equal(run.stdout, 'HELLO FROM STDIN\ndone\n', run.stderr);
    assert.equal(run.code, 0);
  });

  it('says a Pod is not found, and refuses a Pod that is not Running', async () => {
    const missing = await kubectl(kube, ['exec', 'job-nope', '--', 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /pods "job-nope" not found/);

    const runtime = await kube.startedRuntime();
    await runtime.provision('pending', spec('pending', ['sleep', '3600'], { image: 'does-not-exist' }));
    await eventually(() => assert.ok(kube.api.get('jobs', 'job-pending')?.spec.nodeName));
    const before = kube.api.count('create pods/exec');
    const pending = await kubectl(kube, ['exec', 'job-pending', '--', 'true']);
    assert.notEqual(pending.code, 0);
    assert.match(pending.stderr, /container not found/);
    // kubectl tries WebSocket, then falls back to SPDY on an upgrade failure: both were refused.
    assert.ok(kube.api.count('create pods/exec') > before, 'the exec reached the server, which refused it');
  });

  it('answers 403 when RBAC lacks create on pods/exec', async () => {
    const other = await startKube();
    try {
      await runningPod(other, 'y');
      other.api.forbid('create', 'pods/exec');
      const run = await kubectl(other, ['exec', 'job-y', '--', 'true']);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /cannot create resource "pods\/exec"/);
    } finally {
      await other.stop();
    }
  });
});
