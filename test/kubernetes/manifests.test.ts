import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { buildPod } from '../../src/runtime/kubernetes/pod-manifest.js';
import { spec } from '../runtime/conformance.js';
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

/** A generated ConfigMap's name without kustomize's content hash. */
const unhashed = (m: Manifest) => (m.kind === 'ConfigMap' ? m.metadata.name.replace(/-[a-z0-9]{10}$/, '') : m.metadata.name);

const find = (all: Manifest[], kind: string, name: string) => {
  const found = all.find((m) => m.kind === kind && unhashed(m) === name);
  assert.ok(found, `${kind}/${name} is rendered`);
  return found as Manifest & Record<string, never>;
};

describe('manifests/ (kubectl kustomize)', () => {
  it('renders, and every object passes the Kubernetes schemas, unknown fields included', async () => {
    const all = await rendered();
    assert.deepEqual(all.map((m) => `${m.kind}/${unhashed(m)}`).sort(), [
      'ConfigMap/nats-config',
      'Deployment/leasehold',
      'Namespace/leasehold',
      'Namespace/leasehold-sandbox',
      'NetworkPolicy/leasehold-nats-from-control-plane',
      'NetworkPolicy/leasehold-redis-from-control-plane',
      'NetworkPolicy/leasehold-sandbox-deny-all',
      'PodDisruptionBudget/leasehold',
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
        { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
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
    assert.ok(deployment.spec.replicas >= 2, 'several replicas share the queue');
    assert.equal(deployment.spec.strategy.type, 'RollingUpdate');
    const budget = find(all, 'PodDisruptionBudget', 'leasehold') as unknown as { spec: { minAvailable: number; selector: { matchLabels: object } } };
    assert.equal(budget.spec.minAvailable, 1);
    assert.deepEqual(budget.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'leasehold' });
    assert.equal(pod.serviceAccountName, 'leasehold');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    const [container] = pod.containers;
    assert.equal(container!.image, 'ghcr.io/leasehold/leasehold:0.1.0');
    const env = Object.fromEntries(container!.env.map((e) => [e.name, e.value]));
    assert.equal(env.REDIS_URL, 'redis://leasehold:$(REDIS_PASSWORD)@redis-service.leasehold.svc:6379');
    assert.equal(env.NATS_URL, 'nats://nats.leasehold.svc:4222');
    const podName = container!.env.find((e) => e.name === 'POD_NAME') as { valueFrom?: { fieldRef?: { fieldPath: string } } } | undefined;
    assert.equal(podName?.valueFrom?.fieldRef?.fieldPath, 'metadata.name', 'each replica is named after its Pod');
    assert.equal(env.LEASEHOLD_CONSUMER, undefined, 'no id shared by every replica');
    assert.equal(env.NATS_USER, 'leasehold-control-plane');
    assert.ok(Number(env.LEASEHOLD_HISTORY_MAX_BYTES) > 0, 'the history is bounded in bytes');
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

  it('authenticates every client of Redis and NATS with passwords from Secrets, none of them written in the manifests', async () => {
    const all = await rendered();
    assert.ok(!all.some((m) => m.kind === 'Secret'), 'no Secret with a known password is shipped (manifests/create-secrets.sh makes them)');
    type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
    type Workload = { spec: { template: { spec: { containers: { env?: Env[]; args?: string[] }[]; volumes?: { name: string }[] } } } };
    const secretRefs = (m: Manifest) => {
      const refs: Record<string, string> = {};
      for (const container of (m as unknown as Workload).spec.template.spec.containers) {
        for (const e of container.env ?? []) {
          if (/PASSWORD|TOKEN|AUTH/.test(e.name)) {
            assert.equal(e.value, undefined, `${m.kind}/${m.metadata.name}: ${e.name} comes from a Secret, not a literal`);
            refs[e.name] = `${e.valueFrom!.secretKeyRef!.name}/${e.valueFrom!.secretKeyRef!.key}`;
          }
        }
      }
      return refs;
    };
    assert.deepEqual(secretRefs(find(all, 'Deployment', 'leasehold')), {
      REDIS_PASSWORD: 'leasehold-redis/password',
      NATS_PASSWORD: 'leasehold-nats-users/control-plane-password',
    });
    assert.deepEqual(secretRefs(find(all, 'StatefulSet', 'nats')), {
      LEASEHOLD_NATS_CONTROL_PLANE_PASSWORD: 'leasehold-nats-users/control-plane-password',
      LEASEHOLD_NATS_OPERATOR_PASSWORD: 'leasehold-nats-users/operator-password',
      LEASEHOLD_NATS_WATCHER_PASSWORD: 'leasehold-nats-users/watcher-password',
    });
    assert.deepEqual(secretRefs(find(all, 'StatefulSet', 'redis')), { REDISCLI_AUTH: 'leasehold-redis/password' });

    // Redis reads its users from the Secret's ACL file; NATS reads the shipped nats.conf.
    const redis = (find(all, 'StatefulSet', 'redis') as unknown as Workload).spec.template.spec;
    assert.deepEqual(redis.containers[0]!.args!.slice(-2), ['--aclfile', '/etc/redis/users.acl']);
    assert.deepEqual(redis.volumes!.find((v) => v.name === 'acl'), {
      name: 'acl',
      secret: { secretName: 'leasehold-redis', items: [{ key: 'users.acl', path: 'users.acl' }] },
    });
    const nats = (find(all, 'StatefulSet', 'nats') as unknown as Workload).spec.template.spec;
    assert.deepEqual(nats.containers[0]!.args!.slice(0, 2), ['--config', '/etc/nats/nats.conf']);
    const config = find(all, 'ConfigMap', 'nats-config') as unknown as { metadata: { name: string }; data: Record<string, string> };
    assert.equal(config.data['nats.conf'], readFileSync(new URL('manifests/nats.conf', root), 'utf8'));
    assert.deepEqual(nats.volumes, [{ name: 'config', configMap: { name: config.metadata.name } }]);

    // create-secrets.sh makes exactly the Secrets and keys the manifests read.
    const script = readFileSync(new URL('manifests/create-secrets.sh', root), 'utf8');
    for (const ref of ['leasehold-redis', 'password=', 'users.acl=', 'leasehold-nats-users', 'control-plane-password=', 'operator-password=', 'watcher-password=']) {
      assert.ok(script.includes(ref), `create-secrets.sh sets ${ref}`);
    }
  });

  it('lets only the control plane reach Redis and NATS: a trusted workload Pod in the same namespace cannot, whatever labels its spec sets', async () => {
    const all = await rendered();
    type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
    type Policy = { spec: { podSelector: Selector; policyTypes: string[]; ingress: { from: { podSelector?: Selector; namespaceSelector?: Selector }[]; ports: { port: number }[] }[] } };
    const matches = (selector: Selector, labels: Record<string, string>) =>
      Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
      (selector.matchExpressions ?? []).every(({ key, operator, values }) => {
        if (operator === 'Exists') return key in labels;
        if (operator === 'DoesNotExist') return !(key in labels);
        if (operator === 'In') return key in labels && values!.includes(labels[key]!);
        return !(key in labels) || !values!.includes(labels[key]!);
      });
    const admitted = (policy: Policy, labels: Record<string, string>, port: number) =>
      policy.spec.ingress.some((rule) => rule.ports.some((p) => p.port === port) && rule.from.some((peer) => !peer.namespaceSelector && matches(peer.podSelector!, labels)));

    const controlPlane = (find(all, 'Deployment', 'leasehold') as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
    // A trusted workload in the control plane's namespace, its spec dressed up as the control plane.
    // The schema refuses such labels at intake; the policies must hold even if one got through.
    const dressed = spec('impostor', ['redis-cli']);
    const impostor = buildPod('impostor', { ...dressed, labels: { 'app.kubernetes.io/name': 'leasehold' } }, {
      namespace: 'leasehold',
      deadlineSlackSeconds: 60,
      sandbox: null,
    }).metadata!.labels!;
    assert.equal(impostor['app.kubernetes.io/name'], 'leasehold', 'the spec did set the label');

    for (const [name, target, port] of [
      ['leasehold-redis-from-control-plane', 'redis', 6379],
      ['leasehold-nats-from-control-plane', 'nats', 4222],
    ] as const) {
      const policy = find(all, 'NetworkPolicy', name) as unknown as Policy & { metadata: { namespace: string } };
      assert.equal(policy.metadata.namespace, 'leasehold');
      assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
      const server = (find(all, 'StatefulSet', target) as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels;
      assert.ok(matches(policy.spec.podSelector, server), `${name} selects the ${target} Pods`);
      assert.ok(admitted(policy, controlPlane, port), `${name} admits the control plane`);
      assert.ok(!admitted(policy, impostor, port), `${name} refuses a workload Pod labelled as the control plane`);
      assert.ok(!admitted(policy, {}, port), `${name} refuses an unlabelled Pod`);
    }
  });

  it('has a Dockerfile that builds in one stage and runs non-root under tini in another', () => {
    const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
    const stages = dockerfile.match(/^FROM .*/gm) ?? [];
    assert.equal(stages.length, 2, 'multi-stage');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.match(runtime, /^USER 10001:10001$/m, 'the uid the Deployment runs as');
    assert.match(runtime, /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", ("--[a-z-]+=\w+", )*"\/app\/bin\/leasehold.js"\]$/m);
    assert.doesNotMatch(runtime, /npm (ci|install)/, 'no dev tooling in the final image');
  });
});
