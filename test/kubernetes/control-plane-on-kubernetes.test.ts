import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { ControlPlaneConfig } from '../../src/config.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { startKube, type KubeHarness } from './kube-harness.js';

const servers = useServers();
const SEED = '{"id":"test-1","type":"trusted","image":"alpine","cmd":["echo","hello"]}';
const workload = (id: string, cmd: string[] | string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd, ...extra });

describe('the control plane on the Kubernetes runtime (fake API server, real Redis and NATS)', () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  let kube: KubeHarness;
  const planes: TestPlane[] = [];

  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
  });
  beforeEach(async () => {
    kube = await startKube();
  });
  afterEach(async () => {
    for (const plane of planes.splice(0)) await plane.stop();
    await kube.stop();
  });
  after(async () => {
    await recorder.close();
    await redis.quit();
  });

  /** Goes through config and the runtime factory, as `leasehold start --runtime kubernetes` does. */
  async function plane(overrides: Partial<ControlPlaneConfig> = {}): Promise<TestPlane> {
    const tp = await startTestPlane(servers(), {
      runtime: 'kubernetes',
      kubernetes: { kubeconfig: kube.kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' },
      ...overrides,
    });
    planes.push(tp);
    return tp;
  }

  it("runs the seed's sample workload as a Pod through all five states, with exitCode 0", async () => {
    const { plane: cp } = await plane();
    await redis.lpush(cp.keys.queue, SEED);
    await recorder.untilEnded(['test-1']);
    assert.deepEqual(
      recorder.of('test-1').map((m) => [m.from, m.to, m.seq]),
      [
        [null, 'queued', 1],
        ['queued', 'provisioning', 2],
        ['provisioning', 'running', 3],
        ['running', 'expiring', 4],
        ['expiring', 'tornDown', 5],
      ],
    );
    assert.equal(recorder.ended('test-1')!.reason, 'completed');
    assert.equal(recorder.ended('test-1')!.exitCode, 0);
    assert.deepEqual(kube.api.created.map((p) => p.metadata.name), ['job-test-1']);
    // The Pod names the owner that made it: its shard and fencing epoch, as the transitions carry it.
    const { labels, annotations } = kube.api.created[0]!.metadata as { labels: Record<string, string>; annotations?: Record<string, string> };
    assert.equal(labels['leasehold.dev/shard'], String(cp.keys.shardOf('test-1')));
    assert.equal(labels['leasehold.dev/epoch'], String(recorder.ended('test-1')!.epoch));
    assert.equal(annotations?.['leasehold.dev/owner'], cp.ownership.replicaId);
    assert.equal(kube.api.get('jobs', 'job-test-1'), undefined, 'the Pod is deleted at teardown');
  });

  it('makes one create and one delete per workload, and one watch per namespace however many workloads run', async () => {
    const { plane: cp } = await plane();
    const ids = Array.from({ length: 30 }, (_, i) => `many-${i}`);
    await redis.lpush(cp.keys.queue, ...ids.map((id) => workload(id, ['echo', id])));
    await recorder.untilEnded(ids, 30_000);
    assert.ok(ids.every((id) => recorder.ended(id)!.reason === 'completed'));
    const calls = Object.fromEntries(kube.api.requests);
    assert.deepEqual(calls, { 'list pods': 2, 'watch pods': 2, 'create pods': 30, 'delete pods': 30 }, 'trusted and sandbox namespaces: one list and one watch each');
    const metrics = await (await fetch(`http://127.0.0.1:${cp.httpPort}/metrics`)).text();
    assert.match(metrics, /^leasehold_runtime_events_total\{runtime="kubernetes",event="watches"\} 1$/m, 'operators see the watch on /metrics');
    assert.match(metrics, /^leasehold_runtime_events_total\{runtime="kubernetes-sandbox",event="stalls"\} 0$/m);
  });

  it('retries through a spell of 500 and 429 answers, and ends a Pod deleted behind its back as lost', async () => {
    const { plane: cp } = await plane();
    kube.api.failNext('create', 500, 2);
    kube.api.failNext('create', 429, 1, 0);
    await redis.lpush(cp.keys.queue, workload('flaky', ['echo', 'ok']));
    await recorder.untilEnded(['flaky']);
    assert.equal(recorder.ended('flaky')!.reason, 'completed');
    assert.equal(kube.api.count('create pods'), 4);

    await redis.lpush(cp.keys.queue, workload('victim', ['sleep', '300']));
    await recorder.until(() => recorder.of('victim').some((m) => m.to === 'running'), 10_000, 'victim running');
    kube.api.deleteBehindTheBack('jobs', 'job-victim');
    await recorder.untilEnded(['victim']);
    const end = recorder.of('victim').find((m) => m.to === 'expiring')!;
    assert.equal(end.reason, 'lost');
    assert.match(end.error ?? '', /job-victim was deleted, not by leasehold/);
  });

  it('creates exactly one Pod when a create was carried out but its answer was lost', async () => {
    // A slow kubelet, so the retry comes before the Pod is seen running.
    await kube.stop();
    kube = await startKube({ startMs: 1_500 });
    const { plane: cp } = await plane();
    kube.api.loseCreateAnswers(1);
    await redis.lpush(cp.keys.queue, workload('once', ['echo', 'once']));
    await recorder.untilEnded(['once']);
    assert.equal(recorder.ended('once')!.reason, 'completed');
    assert.equal(kube.api.count('create pods'), 2, 'the 504 was retried, and the retry met our own Pod (409)');
    assert.deepEqual(
      kube.api.created.map((p) => p.metadata.name),
      ['job-once', 'job-once'],
    );
    assert.equal(kube.api.count('delete pods'), 1, 'one Pod, deleted once');
    assert.deepEqual(kube.api.list('jobs'), []);
  });

  it('says why a Pod never started when provisioning times out, and names the RBAC verb on 403', async () => {
    const { plane: cp } = await plane({ policy: { provisionTimeoutMs: 1_500 } });
    await redis.lpush(cp.keys.queue, workload('nopull', ['true'], { image: 'does-not-exist' }));
    await eventually(async () => {
      const status = await cp.supervisor.status('nopull');
      assert.equal(status?.state, 'provisioning');
      assert.match(status?.waiting ?? '', /^ErrImagePull: failed to pull image "does-not-exist"/, '`leasehold status` says why');
    });
    await recorder.untilEnded(['nopull']);
    const timedOut = recorder.of('nopull').find((m) => m.to === 'expiring')!;
    assert.equal(timedOut.reason, 'provisionTimeout');
    assert.match(timedOut.error ?? '', /^not running after 1\.5s: ErrImagePull: failed to pull image "does-not-exist"/);
    assert.equal(kube.api.get('jobs', 'job-nopull'), undefined);

    kube.api.forbid('create', 'pods');
    await redis.lpush(cp.keys.queue, workload('denied', ['true']));
    await recorder.untilEnded(['denied']);
    const denied = recorder.of('denied').find((m) => m.to === 'expiring')!;
    assert.equal(denied.reason, 'failed');
    assert.match(denied.error ?? '', /needs RBAC verb "create" on resource "pods"/);
  });

  it('after a restart, adopts the Pods of live workloads and deletes Pods no workload claims', async () => {
    const keyPrefix = uniquePrefix();
    const first = await plane({ keyPrefix });
    await redis.lpush(first.plane.keys.queue, workload('survivor', ['sleep', '300']));
    await recorder.until(() => recorder.of('survivor').some((m) => m.to === 'running'), 10_000, 'survivor running');
    await first.stop();
    planes.splice(planes.indexOf(first), 1);
    assert.equal(kube.api.get('jobs', 'job-survivor')?.status.phase, 'Running', 'Pods outlive the control plane');

    kube.api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'job-orphan', namespace: 'jobs', labels: { 'app.kubernetes.io/managed-by': 'leasehold', 'leasehold.dev/workload-id': 'orphan' } },
      spec: { containers: [{ name: 'workload', image: 'alpine', command: ['sleep', '300'] }] },
    });
    const second = await plane({ keyPrefix });
    const status = await second.plane.supervisor.status('survivor');
    assert.equal(status?.state, 'running', 'adopted, not re-created');
    assert.equal(kube.api.count('create pods'), 1);
    assert.equal(kube.api.get('jobs', 'job-orphan'), undefined, 'the orphan is deleted');

    await second.plane.supervisor.cancel('survivor');
    await recorder.untilEnded(['survivor']);
    assert.equal(recorder.ended('survivor')!.reason, 'cancelled');
    assert.equal(kube.api.list('jobs').length, 0);
  });

  it('runs untrusted work only as a hardened sandbox Pod in the sandbox namespace', async () => {
    const { plane: cp } = await plane();
    await redis.lpush(cp.keys.queue, JSON.stringify({ id: 'agent-1', type: 'untrusted', image: 'python', cmd: ['sh', '-c', 'exit 0'] }));
    await recorder.untilEnded(['agent-1']);
    assert.equal(recorder.ended('agent-1')!.reason, 'completed');
    const pod = kube.api.created.find((p) => p.metadata.name === 'job-agent-1')!;
    assert.equal(pod.metadata.namespace, 'sandbox');
    assert.equal(pod.spec.runtimeClassName, 'gvisor');
    assert.equal(pod.metadata.labels!['leasehold.dev/sandbox'], 'true');
  });
});
