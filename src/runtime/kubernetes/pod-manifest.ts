import type { V1Container, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import type { WorkloadSpec } from '../../spec/index.js';
import { workloadArgv } from '../../spec/session.js';
import { HEARTBEAT_ENV, type WorkloadOwner } from '../runtime.js';

/** Every Pod we create carries these; the watch selects on the first, teardown trusts the second. */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  workloadId: 'leasehold.dev/workload-id',
  type: 'leasehold.dev/type',
  /** Selected by the default-deny NetworkPolicy in manifests/sandbox. */
  sandbox: 'leasehold.dev/sandbox',
  /** The shard and fencing epoch of the owner that created the Pod (`kubectl get pods -l leasehold.dev/shard=7`). */
  shard: 'leasehold.dev/shard',
  epoch: 'leasehold.dev/epoch',
} as const;
/** A replica id is a Pod name (up to 253 characters): too long for a label value. */
export const OWNER_ANNOTATION = 'leasehold.dev/owner';
export const MANAGER = 'leasehold';
export const MANAGED_SELECTOR = `${LABELS.managedBy}=${MANAGER}`;
export const CONTAINER_NAME = 'workload';

export function podName(id: string): string {
  return `job-${id}`;
}

/** How untrusted work is hardened beyond its own namespace's Pod Security admission. */
export interface SandboxProfile {
  /** gVisor (`gvisor`, handler runsc) or Kata with Firecracker (`kata-fc`). */
  readonly runtimeClassName: string;
  /** Applied when the spec sets no limit, because an unbounded sandbox is not a sandbox. */
  readonly defaultLimits: { readonly cpu: string; readonly memory: string };
  /** Non-zero uid the workload runs as; the restricted profile forbids root. */
  readonly runAsUser: number;
  /** Size of the only writable place, `/tmp`. */
  readonly tmpSizeLimit: string;
}

export const DEFAULT_SANDBOX: SandboxProfile = {
  runtimeClassName: 'gvisor',
  defaultLimits: { cpu: '1', memory: '512Mi' },
  runAsUser: 65534,
  tmpSizeLimit: '256Mi',
};

export interface PodOptions {
  readonly namespace: string;
  /** Seconds Kubernetes lets a Pod live beyond the workload's own maximum lifetime before it kills it itself. */
  readonly deadlineSlackSeconds: number;
  readonly sandbox: SandboxProfile | null;
  /** Heartbeat URL and token from the control plane. */
  readonly env?: Readonly<Record<string, string>>;
  readonly owner?: WorkloadOwner;
}

/**
 * The Pod for one workload. `activeDeadlineSeconds` makes Kubernetes itself end a Pod whose control
 * plane is gone; requests equal limits so a workload gets what it asked for (Guaranteed QoS).
 */
export function buildPod(id: string, spec: WorkloadSpec, options: PodOptions): V1Pod {
  const sandbox = options.sandbox;
  const limits: Record<string, string> = { ...(sandbox?.defaultLimits ?? {}) };
  if (spec.resources.cpu) limits.cpu = spec.resources.cpu;
  if (spec.resources.memory) limits.memory = spec.resources.memory;
  const env: Record<string, string> = { ...spec.env, ...options.env, LEASEHOLD_WORKLOAD_ID: id };
  delete env[HEARTBEAT_ENV.socket]; // a path on the control plane's host means nothing in a Pod

  const container: V1Container = {
    name: CONTAINER_NAME,
    image: spec.image,
    command: workloadArgv(spec),
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    ...(Object.keys(limits).length > 0 ? { resources: { requests: { ...limits }, limits } } : {}),
  };
  const podSpec: V1PodSpec = {
    restartPolicy: 'Never',
    activeDeadlineSeconds: spec.maxLifetimeSeconds + options.deadlineSlackSeconds,
    containers: [container],
  };
  if (sandbox) hardenForUntrusted(podSpec, container, sandbox);

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(id),
      namespace: options.namespace,
      // Ours last, so a submitted label can never disguise a Pod as someone else's or unmanaged.
      labels: {
        ...spec.labels,
        [LABELS.managedBy]: MANAGER,
        [LABELS.workloadId]: id,
        [LABELS.type]: spec.type,
        ...(sandbox ? { [LABELS.sandbox]: 'true' } : {}),
        ...(options.owner ? { [LABELS.shard]: String(options.owner.shard), [LABELS.epoch]: String(options.owner.epoch) } : {}),
      },
      ...(options.owner ? { annotations: { [OWNER_ANNOTATION]: options.owner.replica } } : {}),
    },
    spec: podSpec,
  };
}

/**
 * The restricted Pod Security profile in full, and beyond it: a read-only root with an emptyDir
 * for /tmp, no service account token, no service links, no host namespaces, and a label the
 * default-deny NetworkPolicy selects.
 */
function hardenForUntrusted(podSpec: V1PodSpec, container: V1Container, sandbox: SandboxProfile): void {
  podSpec.runtimeClassName = sandbox.runtimeClassName;
  podSpec.automountServiceAccountToken = false;
  podSpec.enableServiceLinks = false;
  podSpec.hostNetwork = false;
  podSpec.hostPID = false;
  podSpec.hostIPC = false;
  podSpec.securityContext = {
    runAsNonRoot: true,
    runAsUser: sandbox.runAsUser,
    runAsGroup: sandbox.runAsUser,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  podSpec.volumes = [{ name: 'tmp', emptyDir: { sizeLimit: sandbox.tmpSizeLimit } }];
  container.securityContext = {
    runAsNonRoot: true,
    runAsUser: sandbox.runAsUser,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  container.volumeMounts = [{ name: 'tmp', mountPath: '/tmp' }];
}
