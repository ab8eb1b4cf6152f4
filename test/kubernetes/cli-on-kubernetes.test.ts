import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { runCli, startCliControlPlane } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { uniquePrefix, useServers } from '../helpers/servers.js';
import { startKube, type KubeHarness } from './kube-harness.js';

const servers = useServers();

describe('leasehold start --runtime kubernetes, driven from the CLI', () => {
  let kube: KubeHarness;
  let plane: { child: ChildProcess; exited: Promise<number | null>; logs: () => string };
  let conn: string[];
  before(async () => {
    kube = await startKube();
    conn = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', uniquePrefix()];
    plane = await startCliControlPlane([
      ...conn,
      '--runtime', 'kubernetes',
      '--kubeconfig', kube.kubeconfig,
      '--namespace', 'jobs',
      '--sandbox-namespace', 'sandbox',
      '--http-port', '0',
      '--grace', '500',
    ]);
  });
  after(async () => {
    if (plane.child.exitCode === null) plane.child.kill('SIGKILL');
    await kube.stop();
  });

  it("submit --wait runs the seed's workload as a Pod and exits 0", async () => {
    const result = await runCli(['submit', '--wait', '--id', 'test-1', ...conn, '--', 'echo', 'hello']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /expiring\s+→ tornDown\s+runtime\.tornDown\s+reason=completed exitCode=0/);
    assert.equal(kube.api.count('create pods'), 1);
  });

  it('leasehold logs reads the Pod log of a running workload, and cancel deletes its Pod', async () => {
    const submitted = await runCli(['submit', '--id', 'chatty', ...conn, '--cmd', 'echo working; sleep 300']);
    assert.equal(submitted.code, 0, submitted.stderr);
    await eventually(() => assert.equal(kube.api.get('jobs', 'job-chatty')?.status.phase, 'Running'));
    await eventually(async () => {
      const logs = await runCli(['logs', 'chatty', ...conn]);
      assert.equal(logs.code, 0, logs.stderr);
      assert.equal(logs.stdout, 'working\n');
    });
    assert.equal((await runCli(['cancel', 'chatty', ...conn])).code, 0);
    await eventually(() => assert.equal(kube.api.get('jobs', 'job-chatty'), undefined));
  });

  it('stops on SIGTERM and leaves running Pods to the next control plane', async () => {
    await runCli(['submit', '--id', 'stays', ...conn, '--', 'sleep', '300']);
    await eventually(() => assert.equal(kube.api.get('jobs', 'job-stays')?.status.phase, 'Running'));
    plane.child.kill('SIGTERM');
    assert.equal(await plane.exited, 0);
    assert.equal(kube.api.get('jobs', 'job-stays')?.status.phase, 'Running');
  });
});
