import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runtimeConformance, listen, spec } from '../runtime/conformance.js';
import { eventually } from '../helpers/eventually.js';
import { DEFAULT_SANDBOX } from '../../src/runtime/kubernetes/pod-manifest.js';
import { startKube, type KubeHarness } from './kube-harness.js';

/** The kubectl on PATH, or another one to check against (Debian's kubernetes-client is 1.20). */
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

runtimeConformance('kubernetes (fake API server)', async () => {
  const kube = await startKube();
  return { runtime: await kube.startedRuntime(), cleanup: () => kube.stop() };
});

runtimeConformance('kubernetes sandbox Pods (fake API server)', async () => {
  const kube = await startKube();
  return { runtime: await kube.startedRuntime({ namespace: 'sandbox', sandbox: DEFAULT_SANDBOX }), cleanup: () => kube.stop() };
});

describe('the Kubernetes runtime against the fake API server', () => {
  let kube: KubeHarness;
  beforeEach(async () => {
    kube = await startKube({ bookmarkMs: 100 });
  });
  afterEach(() => kube.stop());

  it('creates job-<id> with our labels, restartPolicy Never and activeDeadlineSeconds, and reads its logs', async () => {
    const runtime = await kube.startedRuntime({ deadlineSlackSeconds: 60 });
    const events = listen(runtime);
    await runtime.provision('hello', spec('hello', ['echo', 'hello'], { maxLifetimeSeconds: 120, env: { GREETING: 'hi' } }), {
      env: { LEASEHOLD_HEARTBEAT_URL: 'http://cp/v1/workloads/hello/heartbeat' },
    });
    assert.equal((await events.exitOf('hello')).exitCode, 0);
    const pod = kube.api.get('jobs', 'job-hello')!;
    assert.equal(pod.metadata.labels!['app.kubernetes.io/managed-by'], 'leasehold');
    assert.equal(pod.metadata.labels!['leasehold.dev/workload-id'], 'hello');
    assert.equal(pod.spec.restartPolicy, 'Never');
    assert.equal(pod.spec.activeDeadlineSeconds, 180);
    assert.deepEqual(pod.spec.containers[0]!.command, ['echo', 'hello']);
    const env = Object.fromEntries((pod.spec.containers[0]!.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
    assert.equal(env.GREETING, 'hi');
    assert.equal(env.LEASEHOLD_HEARTBEAT_URL, 'http://cp/v1/workloads/hello/heartbeat');
    assert.equal(await runtime.logs('hello'), 'hello\n');
    assert.deepEqual(
      events.events.map((e) => e.event.type),
      ['runtime.running', 'runtime.exited'],
      'ContainerCreating is not worth an event; running and the exit are',
    );
    await runtime.teardown('hello');
    assert.equal(kube.api.get('jobs', 'job-hello'), undefined);
    assert.equal(await runtime.logs('hello'), null);
  });

  it('reports the exit code and reason of a failed Pod, and the reason a Pod stays Pending', async () => {
    const runtime = await kube.startedRuntime();
    const events = listen(runtime);
    await runtime.provision('three', spec('three', 'exit 3'));
    const exit = await events.exitOf('three');
    assert.equal(exit.exitCode, 3);
    await runtime.provision('nopull', { ...spec('nopull', ['true']), image: 'does-not-exist' });
    await eventually(() => {
      const waiting = events.events.find((e) => e.id === 'nopull' && e.event.type === 'runtime.waiting');
      assert.match(JSON.stringify(waiting?.event), /ErrImagePull: failed to pull image \\"does-not-exist\\"/);
    });
    assert.equal((await runtime.status('nopull')).state, 'pending');
  });

  it('answers a create that hits a Pod it did not make with a clear error, and never deletes that Pod', async () => {
    kube.api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'job-taken', namespace: 'jobs', labels: { app: 'someone-else' } },
      spec: { containers: [{ name: 'x', image: 'nginx', command: ['sleep', '300'] }] },
    });
    const runtime = await kube.startedRuntime();
    await assert.rejects(runtime.provision('taken', spec('taken', ['true'])), /job-taken already exists in namespace jobs and leasehold did not create it/);
    assert.deepEqual(await runtime.list(), [], 'a Pod without our labels is not ours to list');
    await runtime.teardown('taken');
    assert.equal(kube.api.count('delete pods'), 0, 'not even asked to delete it');
    assert.equal(kube.api.get('jobs', 'job-taken')?.metadata.deletionTimestamp, undefined, 'still there, untouched');

    // Ours, deleted behind our back, and the name taken by someone else before our teardown:
    // the delete is conditional on our Pod's uid, so theirs survives.
    await runtime.provision('reused', spec('reused', ['sleep', '300']));
    kube.api.deleteBehindTheBack('jobs', 'job-reused');
    kube.api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'job-reused', namespace: 'jobs', labels: { app: 'someone-else' } },
      spec: { containers: [{ name: 'x', image: 'nginx', command: ['sleep', '300'] }] },
    });
    await runtime.teardown('reused');
    assert.equal(kube.api.get('jobs', 'job-reused')?.metadata.labels?.app, 'someone-else');
    assert.equal(kube.api.get('jobs', 'job-reused')?.metadata.deletionTimestamp, undefined);
  });

  it('names the missing RBAC verb and resource on 403, and marks 429 and 500 as worth retrying', async () => {
    const runtime = await kube.startedRuntime();
    await runtime.provision('busy', spec('busy', ['sleep', '300']));
    kube.api.forbid('create', 'pods');
    await assert.rejects(runtime.provision('denied', spec('denied', ['true'])), (error: Error & { transient?: boolean }) => {
      assert.match(error.message, /needs RBAC verb "create" on resource "pods"/);
      assert.match(error.message, /cannot create resource "pods" in API group "" in the namespace "jobs"/);
      assert.equal(error.transient, false);
      return true;
    });
    kube.api.failNext('delete', 429, 1, 7);
    await assert.rejects(
      runtime.teardown('busy'),
      (error: Error & { transient?: boolean; retryAfterMs?: number }) => error.transient === true && error.retryAfterMs === 7_000,
    );
    kube.api.failNext('delete', 500, 1);
    await assert.rejects(runtime.teardown('busy'), (error: Error & { transient?: boolean }) => error.transient === true);
    await runtime.teardown('busy');
    assert.equal(kube.api.get('jobs', 'job-busy'), undefined);
  });

  it('keeps one watch through a closed stream, a 410 Gone and a stall, and misses no Pod change', async () => {
    const runtime = await kube.startedRuntime({ stallMs: 600 });
    const events = listen(runtime);
    await eventually(() => assert.equal(kube.api.openWatches(), 1));

    kube.api.closeWatches();
    await runtime.provision('after-close', spec('after-close', ['true']));
    assert.equal((await events.exitOf('after-close')).exitCode, 0);

    // Changes, then a compaction, while the watch cannot reconnect: resuming gets 410 Gone, so
    // it lists again, and learns what it missed from the list.
    kube.api.failNext('watch', 503, 1_000_000);
    kube.api.closeWatches();
    await runtime.provision('after-gone', spec('after-gone', ['true']));
    await eventually(() => assert.equal(kube.api.get('jobs', 'job-after-gone')?.status.phase, 'Succeeded'));
    kube.api.compact();
    kube.api.clearFaults();
    assert.equal((await events.exitOf('after-gone')).exitCode, 0);
    assert.ok(runtime.stats().relistsAfterGone >= 1, JSON.stringify(runtime.stats()));

    // The watch opened after the relist must be the one that stalls.
    await eventually(() => assert.equal(kube.api.openWatches(), 1));
    kube.api.stallWatches();
    await runtime.provision('after-stall', spec('after-stall', ['true']));
    assert.equal((await events.exitOf('after-stall', 5_000)).exitCode, 0);
    assert.ok(runtime.stats().stalls >= 1, JSON.stringify(runtime.stats()));
    await eventually(() => assert.equal(kube.api.openWatches(), 1, 'the stalled watch was closed, not leaked'));
  });

  it("finds a Pod its watch has not reported yet (another replica's, just created) instead of calling it not found", async () => {
    const runtime = await kube.startedRuntime();
    await eventually(() => assert.equal(kube.api.openWatches(), 1));
    kube.api.stallWatches(); // the watch is a moment behind, as it is right after a takeover
    kube.api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'job-made-elsewhere', namespace: 'jobs', labels: { 'app.kubernetes.io/managed-by': 'leasehold', 'leasehold.dev/workload-id': 'made-elsewhere' } },
      spec: { restartPolicy: 'Never', containers: [{ name: 'workload', image: 'alpine', command: ['sleep', '300'] }] },
    } as never);
    assert.notEqual((await runtime.status('made-elsewhere')).state, 'notFound', 'a running workload would have ended lost');
    assert.equal((await runtime.status('never-made')).state, 'notFound');
  });

  it('reports a Pod deleted behind its back as lost', async () => {
    const runtime = await kube.startedRuntime();
    const events = listen(runtime);
    await runtime.provision('victim', spec('victim', ['sleep', '300']));
    await eventually(async () => assert.equal((await runtime.status('victim')).state, 'running'));
    kube.api.deleteBehindTheBack('jobs', 'job-victim');
    await eventually(() => assert.ok(events.events.some((e) => e.id === 'victim' && e.event.type === 'runtime.lost')));
  });

  it('reuses its connections to the API server instead of a TLS handshake per call', async () => {
    const runtime = await kube.startedRuntime();
    for (let i = 0; i < 20; i++) {
      await runtime.provision(`reuse-${i}`, spec(`reuse-${i}`, ['sleep', '300']));
      await runtime.teardown(`reuse-${i}`);
    }
    assert.equal(kube.api.count('create pods') + kube.api.count('delete pods'), 40);
    assert.ok(kube.api.connections <= 4, `${kube.api.connections} TLS connections for 1 list, 1 watch and 40 calls`);
  });

  it('lets the real kubectl list the Pods it created', async () => {
    const runtime = await kube.startedRuntime();
    await runtime.provision('visible', spec('visible', ['sleep', '300']));
    await eventually(async () => assert.equal((await runtime.status('visible')).state, 'running'));
    const { stdout } = await promisify(execFile)(KUBECTL, ['--kubeconfig', kube.kubeconfig, 'get', 'pods', '-l', 'app.kubernetes.io/managed-by=leasehold']);
    assert.match(stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    assert.match(stdout, /^job-visible\s+1\/1\s+Running\s+0\s+\d+s$/m);
    const json = await promisify(execFile)(KUBECTL, ['--kubeconfig', kube.kubeconfig, 'get', 'pod', 'job-visible', '-o', 'jsonpath={.metadata.labels.leasehold\\.dev/workload-id}']);
    assert.equal(json.stdout, 'visible');
  });
});
