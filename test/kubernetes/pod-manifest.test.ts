import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { buildPod, DEFAULT_SANDBOX } from '../../src/runtime/kubernetes/pod-manifest.js';
import { eventFor, observePod } from '../../src/runtime/kubernetes/pod-observation.js';
import { spec } from '../runtime/conformance.js';
import { schemaErrors } from './schema.js';

const trustedPod = () => buildPod('job1', spec('job1', ['echo', 'hi'], { resources: { cpu: '500m', memory: '256Mi' } }), { namespace: 'jobs', deadlineSlackSeconds: 60, sandbox: null });
const sandboxPod = (extra: Record<string, unknown> = {}) =>
  buildPod('agent-1', { ...spec('agent-1', ['python', '-c', 'print(1)'], extra), type: 'untrusted' }, {
    namespace: 'leasehold-sandbox',
    deadlineSlackSeconds: 60,
    sandbox: DEFAULT_SANDBOX,
    env: { LEASEHOLD_HEARTBEAT_TOKEN: 't' },
  });

describe('generated Pods against the Kubernetes schemas', () => {
  it('finds nothing wrong with the trusted Pod or the sandbox Pod', async () => {
    assert.deepEqual(await schemaErrors(trustedPod()), []);
    assert.deepEqual(await schemaErrors(sandboxPod()), []);
  });

  it('is a validator that can fail: unknown fields, wrong types and bad enums are reported', async () => {
    const pod = trustedPod() as unknown as { spec: { containers: Record<string, unknown>[]; restartPolicy: string } };
    pod.spec.containers[0]!.bogus = true;
    pod.spec.containers[0]!.image = 5;
    pod.spec.restartPolicy = 'Sometimes';
    const errors = (await schemaErrors(pod)).join('\n');
    assert.match(errors, /unknown field "bogus"/);
    assert.match(errors, /image must be string/);
    assert.match(errors, /restartPolicy must be equal to one of the allowed values/);
  });

  it('sets requests equal to limits, and keeps our labels over any the submitter chose', () => {
    // The schema refuses these label keys; the Pod builder must not depend on that alone.
    const labelled = { ...spec('x', ['true'], { resources: { cpu: '2' }, labels: { team: 'a' } }) };
    const pod = buildPod('x', { ...labelled, labels: { ...labelled.labels, 'app.kubernetes.io/managed-by': 'me' } }, {
      namespace: 'jobs',
      deadlineSlackSeconds: 0,
      sandbox: null,
    });
    assert.deepEqual(pod.spec!.containers[0]!.resources, { requests: { cpu: '2' }, limits: { cpu: '2' } });
    assert.equal(pod.metadata!.labels!['app.kubernetes.io/managed-by'], 'leasehold');
    assert.equal(pod.metadata!.labels!.team, 'a');
    assert.deepEqual(buildPod('s', spec('s', 'echo $HOME'), { namespace: 'j', deadlineSlackSeconds: 0, sandbox: null }).spec!.containers[0]!.command, [
      '/bin/sh',
      '-c',
      'echo $HOME',
    ]);
  });

  it('marks a Pod with the shard and fencing epoch of the owner that created it, and the replica, in a valid Pod', async () => {
    // The schema refuses the key; the Pod builder must not depend on that alone.
    const pod = buildPod('x', { ...spec('x', ['true']), labels: { 'leasehold.dev/shard': '99' } }, {
      namespace: 'jobs',
      deadlineSlackSeconds: 0,
      sandbox: null,
      owner: { replica: `leasehold-7d9f8-${'x'.repeat(80)}.example`, shard: 12, epoch: 1796016939590 },
    });
    assert.equal(pod.metadata!.labels!['leasehold.dev/shard'], '12', 'ours over a submitted one');
    assert.equal(pod.metadata!.labels!['leasehold.dev/epoch'], '1796016939590');
    assert.equal(pod.metadata!.annotations!['leasehold.dev/owner'], `leasehold-7d9f8-${'x'.repeat(80)}.example`);
    assert.deepEqual(await schemaErrors(pod), []);
  });
});

/**
 * The "restricted" Pod Security Standard, control by control
 * (https://kubernetes.io/docs/concepts/security/pod-security-standards/), then what we add.
 */
describe('sandbox Pods against the restricted Pod Security profile, field by field', () => {
  const pod = sandboxPod();
  const podSpec = pod.spec!;
  const containers = [...podSpec.containers, ...(podSpec.initContainers ?? []), ...((podSpec.ephemeralContainers ?? []) as never[])];
  const effective = <K extends 'runAsNonRoot' | 'runAsUser' | 'seccompProfile'>(c: (typeof containers)[number], key: K) =>
    c.securityContext?.[key] ?? podSpec.securityContext?.[key];

  it('baseline: no host namespaces, no privileged containers, no host ports or paths, no added capabilities', () => {
    assert.notEqual(podSpec.hostNetwork, true);
    assert.notEqual(podSpec.hostPID, true);
    assert.notEqual(podSpec.hostIPC, true);
    for (const c of containers) {
      assert.notEqual(c.securityContext?.privileged, true);
      assert.ok((c.ports ?? []).every((p) => !p.hostPort));
      assert.deepEqual(c.securityContext?.capabilities?.add ?? [], []);
      assert.equal(c.securityContext?.procMount ?? 'Default', 'Default');
    }
    assert.ok((podSpec.volumes ?? []).every((v) => !v.hostPath));
    assert.equal(podSpec.securityContext?.sysctls, undefined);
  });

  it('restricted: only allowed volume types', () => {
    const allowed = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
    for (const volume of podSpec.volumes ?? []) {
      const types = Object.keys(volume).filter((k) => k !== 'name');
      assert.ok(types.every((t) => allowed.includes(t)), `volume ${volume.name} uses ${types}`);
    }
  });

  it('restricted: no privilege escalation, runs as non-root with a non-zero uid', () => {
    for (const c of containers) {
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
      assert.equal(effective(c, 'runAsNonRoot'), true);
      const uid = effective(c, 'runAsUser');
      assert.ok(typeof uid === 'number' && uid > 0, `uid ${uid}`);
    }
  });

  it('restricted: seccomp RuntimeDefault, and every capability dropped', () => {
    for (const c of containers) {
      assert.equal(effective(c, 'seccompProfile')?.type, 'RuntimeDefault');
      assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
    }
  });

  it('beyond restricted: read-only root with an emptyDir /tmp, no token, no service links, a RuntimeClass, the NetworkPolicy label', () => {
    const container = podSpec.containers[0]!;
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
    assert.ok(tmp);
    assert.ok(podSpec.volumes?.find((v) => v.name === tmp.name)?.emptyDir);
    assert.equal(podSpec.automountServiceAccountToken, false);
    assert.equal(podSpec.enableServiceLinks, false);
    assert.equal(podSpec.runtimeClassName, 'gvisor');
    assert.equal(pod.metadata!.labels!['leasehold.dev/sandbox'], 'true');
    assert.equal(podSpec.restartPolicy, 'Never');
  });

  it('beyond restricted: limits are mandatory, the defaults when the spec sets none', () => {
    assert.deepEqual(podSpec.containers[0]!.resources?.limits, { cpu: '1', memory: '512Mi' });
    assert.deepEqual(sandboxPod({ resources: { memory: '64Mi' } }).spec!.containers[0]!.resources?.limits, { cpu: '1', memory: '64Mi' });
  });
});

describe('Pod status, as the workload sees it', () => {
  const pod = (status: object): V1Pod => ({ metadata: { name: 'job-x' }, status } as V1Pod);
  const terminated = (exitCode: number, reason: string) => [{ name: 'workload', state: { terminated: { exitCode, reason } } }];

  it('maps Succeeded, Failed with a code, OOMKilled and DeadlineExceeded', () => {
    assert.deepEqual(eventFor(observePod(pod({ phase: 'Succeeded', containerStatuses: terminated(0, 'Completed') }))), {
      type: 'runtime.exited',
      exitCode: 0,
    });
    assert.deepEqual(eventFor(observePod(pod({ phase: 'Failed', containerStatuses: terminated(3, 'Error') }))), {
      type: 'runtime.exited',
      exitCode: 3,
    });
    assert.deepEqual(eventFor(observePod(pod({ phase: 'Failed', containerStatuses: terminated(137, 'OOMKilled') }))), {
      type: 'runtime.exited',
      exitCode: 137,
      detail: 'OOMKilled',
    });
    assert.deepEqual(
      eventFor(observePod(pod({ phase: 'Failed', reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' }))),
      { type: 'runtime.failed', error: 'DeadlineExceeded: Pod was active on the node longer than the specified deadline' },
    );
  });

  it('says why a Pending Pod waits, and stays quiet while it is merely being created', () => {
    const unschedulable = pod({
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }],
    });
    assert.deepEqual(observePod(unschedulable), { state: 'pending', detail: 'Unschedulable: 0/3 nodes are available: 3 Insufficient memory.' });
    const backoff = pod({ phase: 'Pending', containerStatuses: [{ name: 'workload', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' } } }] });
    assert.deepEqual(eventFor(observePod(backoff)), { type: 'runtime.waiting', detail: 'ImagePullBackOff: Back-off pulling image "x"' });
    const creating = pod({ phase: 'Pending', containerStatuses: [{ name: 'workload', state: { waiting: { reason: 'ContainerCreating' } } }] });
    assert.equal(eventFor(observePod(creating)), null);
    assert.deepEqual(observePod(pod({ phase: 'Running' })), { state: 'running', adoptable: true });
  });
});
