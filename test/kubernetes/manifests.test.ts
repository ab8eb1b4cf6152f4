import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { schemaErrors } from './schema.js';

/** The kubectl on PATH, or another one to check against (Debian's kubernetes-client is 1.20). */
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

const root = new URL('../../../', import.meta.url);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

async function rendered(): Promise<Manifest[]> {
  const { stdout } = await promisify(execFile)(KUBECTL, ['kustomize', new URL('manifests', root).pathname]);
  // Plain objects, not client-node's loadAllYaml: that maps them onto its model classes and drops
  // unknown fields, which would hide exactly what the schema check is for.
  return parseAllDocuments(stdout).map((doc) => doc.toJSON() as Manifest);
}

const find = (all: Manifest[], kind: string, name: string) => {
  const found = all.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `${kind}/${name} is rendered`);
  return found as Manifest & Record<string, never>;
};

describe('manifests/ (kubectl kustomize)', () => {
  it('renders, and every object passes the Kubernetes schemas, unknown fields included', async () => {
    const all = await rendered();
    assert.deepEqual(all.map((m) => `${m.kind}/${m.metadata.name}`).sort(), [
      'Deployment/leasehold',
      'Namespace/leasehold',
      'Namespace/leasehold-sandbox',
      'NetworkPolicy/leasehold-sandbox-deny-all',
      'Role/leasehold-sandbox-workloads',
      'Role/leasehold-workloads',
      'RoleBinding/leasehold-sandbox-workloads',
      'RoleBinding/leasehold-workloads',
      'RuntimeClass/gvisor',
      'RuntimeClass/kata-fc',
      'Service/leasehold',
      'Service/nats',
      'Service/redis-service',
      'ServiceAccount/leasehold',
      'StatefulSet/nats',
      'StatefulSet/redis',
    ]);
    for (const manifest of all) assert.deepEqual(await schemaErrors(manifest), [], `${manifest.kind}/${manifest.metadata.name}`);
  });

  it('grants the runtime exactly the verbs it uses, in its two namespaces only', async () => {
    const all = await rendered();
    assert.ok(!all.some((m) => m.kind === 'ClusterRole' || m.kind === 'ClusterRoleBinding'));
    for (const [name, namespace] of [
      ['leasehold-workloads', 'leasehold'],
      ['leasehold-sandbox-workloads', 'leasehold-sandbox'],
    ] as const) {
      const role = find(all, 'Role', name);
      assert.equal(role.metadata.namespace, namespace);
      assert.deepEqual(role.rules, [
        { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
        { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      ]);
      const binding = find(all, 'RoleBinding', name);
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'leasehold', namespace: 'leasehold' }]);
    }
  });

  it('runs the control plane non-root on a read-only root, with probes, limits, and the Redis and NATS it needs', async () => {
    const all = await rendered();
    const deployment = find(all, 'Deployment', 'leasehold') as unknown as {
      spec: { replicas: number; strategy: { type: string }; template: { spec: Record<string, never> } };
    };
    const pod = deployment.spec.template.spec as unknown as {
      serviceAccountName: string;
      securityContext: { runAsNonRoot: boolean; runAsUser: number };
      containers: {
        image: string;
        env: { name: string; value?: string }[];
        livenessProbe: { httpGet: { path: string } };
        readinessProbe: { httpGet: { path: string } };
        resources: { requests: object; limits: object };
        securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
      }[];
    };
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.spec.strategy.type, 'Recreate');
    assert.equal(pod.serviceAccountName, 'leasehold');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    const [container] = pod.containers;
    assert.equal(container!.image, 'ghcr.io/leasehold/leasehold:0.1.0');
    const env = Object.fromEntries(container!.env.map((e) => [e.name, e.value]));
    assert.equal(env.REDIS_URL, 'redis://redis-service.leasehold.svc:6379');
    assert.equal(env.NATS_URL, 'nats://nats.leasehold.svc:4222');
    assert.equal(container!.livenessProbe.httpGet.path, '/livez');
    assert.equal(container!.readinessProbe.httpGet.path, '/readyz');
    assert.ok(container!.resources.requests && container!.resources.limits);
    assert.equal(container!.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container!.securityContext.allowPrivilegeEscalation, false);

    const nats = find(all, 'StatefulSet', 'nats') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    assert.ok(nats.spec.template.spec.containers[0]!.args.includes('--jetstream'));
    find(all, 'StatefulSet', 'redis');
  });

  it('makes the sandbox namespace restricted, with a RuntimeClass per isolation and a default-deny NetworkPolicy on sandbox Pods', async () => {
    const all = await rendered();
    assert.equal(find(all, 'Namespace', 'leasehold-sandbox').metadata.labels!['pod-security.kubernetes.io/enforce'], 'restricted');
    assert.equal((find(all, 'RuntimeClass', 'gvisor') as unknown as { handler: string }).handler, 'runsc');
    assert.equal((find(all, 'RuntimeClass', 'kata-fc') as unknown as { handler: string }).handler, 'kata-fc');
    const policy = find(all, 'NetworkPolicy', 'leasehold-sandbox-deny-all') as unknown as {
      metadata: { namespace: string };
      spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress?: unknown; egress?: unknown };
    };
    assert.equal(policy.metadata.namespace, 'leasehold-sandbox');
    assert.deepEqual(policy.spec.podSelector.matchLabels, { 'leasehold.dev/sandbox': 'true' });
    assert.deepEqual(policy.spec.policyTypes.sort(), ['Egress', 'Ingress']);
    assert.equal(policy.spec.ingress, undefined, 'no ingress rule: nothing may connect in');
    assert.equal(policy.spec.egress, undefined, 'no egress rule: nothing may connect out');
  });

  it('has a Dockerfile that builds in one stage and runs non-root under tini in another', () => {
    const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
    const stages = dockerfile.match(/^FROM .*/gm) ?? [];
    assert.equal(stages.length, 2, 'multi-stage');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.match(runtime, /^USER 10001:10001$/m, 'the uid the Deployment runs as');
    assert.match(runtime, /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/bin\/leasehold.js"\]$/m);
    assert.doesNotMatch(runtime, /npm (ci|install)/, 'no dev tooling in the final image');
  });
});
