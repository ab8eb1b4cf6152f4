import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LifecyclePolicy, WorkloadType } from '../machines/index.js';
import { ConfigError } from './errors.js';
import type { NatsAuth } from './events/nats-auth.js';
import type { FirecrackerConfig } from './runtime/firecracker/firecracker-launcher.js';
import type { PoolTemplate } from './pool/pool-template.js';
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from './runtime/process/sandbox-limits.js';

export const RUNTIMES = ['process', 'kubernetes'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];
/** Where untrusted work runs. `none` refuses it; there is never a fallback to a trusted runtime. */
export const SANDBOXES = ['bubblewrap', 'kubernetes', 'firecracker', 'none'] as const;
export type SandboxName = (typeof SANDBOXES)[number];

/** `public`: anyone who reaches the port may scrape /metrics; `token`: it needs a read token. */
export const METRICS_AUTH = ['public', 'token'] as const;
export type MetricsAuth = (typeof METRICS_AUTH)[number];

export interface KubernetesConfig {
  /** Null: KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  readonly kubeconfig: string | null;
  /** Null: the kubeconfig context's namespace, or the service account's. */
  readonly namespace: string | null;
  /** Where sandbox Pods run; labelled for the restricted Pod Security profile (manifests/sandbox). */
  readonly sandboxNamespace: string;
  /** RuntimeClass of sandbox Pods: `gvisor` (runsc) or `kata-fc` (Kata Containers on Firecracker). */
  readonly runtimeClass: string;
}

export interface ControlPlaneConfig {
  readonly redisUrl: string;
  readonly natsUrl: string;
  /** Credentials and TLS for NATS (user/password, token, nkey, creds, client certificate). */
  readonly natsAuth: NatsAuth;
  /** Prepended to every Redis key; empty by default so the seed's `LPUSH workload_queue` works. */
  readonly keyPrefix: string;
  /**
   * This installation's name (installation.ts): the first token of its NATS subjects, its stream's
   * suffix, and the directory of its local state below `stateDir`. '' (the default): none.
   */
  readonly installation: string;
  /** Names this instance's processing list; stable across restarts so a restart recovers it. Superseded by replicaId. */
  readonly consumer: string;
  /** This replica's id (see replica.ts); null: POD_NAME, else `<hostname>-<pid>`. */
  readonly replicaId: string | null;
  /** Shards of workloads; the same for every replica of an installation. */
  readonly shardCount: number;
  /** How long a replica's shard leases last without renewal: the takeover time after a crash. */
  readonly shardTtlMs: number;
  readonly runtime: RuntimeName;
  /** Null picks the runtime's own: bubblewrap for `process`, sandbox Pods for `kubernetes`. */
  readonly sandbox: SandboxName | null;
  readonly kubernetes: KubernetesConfig;
  readonly firecracker: FirecrackerConfig;
  /** Memory, CPU, processes and /tmp of each bubblewrap sandbox: defaults and the most a spec may ask for. */
  readonly sandboxLimits: SandboxLimits;
  /** Pid files and working directories of local workloads. */
  readonly stateDir: string;
  readonly httpHost: string;
  /** 0 picks a free port. */
  readonly httpPort: number;
  /** The base URL workloads use to reach the heartbeat endpoint; defaults to the bound address. */
  readonly publicUrl: string | null;
  /**
   * Bearer tokens of the HTTP API, one `token scope [name]` a line. Null: one operator token is
   * made at each start and written to `<stateDir>/http-token` (0600); the API is never open.
   */
  readonly httpTokensFile: string | null;
  /** Host headers the HTTP server answers (`*`: any). Null: the loopback names for a loopback bind, any otherwise. */
  readonly httpAllowedHosts: readonly string[] | null;
  readonly metricsAuth: MetricsAuth;
  /** Connections held at once; more are closed as they arrive. */
  readonly httpMaxConnections: number;
  /** Inspector event streams open at once. */
  readonly httpMaxStreams: number;
  readonly maxConcurrent: Readonly<Record<WorkloadType, number>>;
  readonly maxPending: number;
  readonly retentionSeconds: number;
  readonly intakeBatch: number;
  readonly blockTimeoutSeconds: number;
  readonly maxPayloadBytes: number;
  readonly maxDeadLetters: number;
  readonly reaperIntervalMs: number;
  readonly renewTickMs: number;
  readonly teardownGraceMs: number;
  /** Keep transitions this long in a JetStream stream for late watchers; 0 keeps none. */
  readonly historySeconds: number;
  /** And at most this many bytes: the oldest go first, so a flood cannot fill the server's disk. */
  readonly historyMaxBytes: number;
  readonly policy: Partial<LifecyclePolicy>;
  /** Warm pools: members made ahead of demand, each claimed once by a workload that matches (src/pool/). */
  readonly pools: readonly PoolTemplate[];
  /** How often idle members of gone replicas are looked for and removed. */
  readonly poolSweepMs: number;
}

export const DEFAULT_CONFIG: ControlPlaneConfig = {
  redisUrl: 'redis://127.0.0.1:6379',
  natsUrl: 'nats://127.0.0.1:4222',
  natsAuth: {},
  keyPrefix: '',
  installation: '',
  consumer: 'default',
  replicaId: null,
  shardCount: 64,
  shardTtlMs: 10_000,
  runtime: 'process',
  sandbox: null,
  kubernetes: { kubeconfig: null, namespace: null, sandboxNamespace: 'leasehold-sandbox', runtimeClass: 'gvisor' },
  firecracker: {
    binary: 'firecracker',
    kernel: '/var/lib/leasehold/firecracker/vmlinux',
    rootfsDir: '/var/lib/leasehold/firecracker/rootfs',
    tap: null,
    jailer: null,
    kvmDevice: '/dev/kvm',
  },
  sandboxLimits: DEFAULT_SANDBOX_LIMITS,
  stateDir: join(tmpdir(), 'leasehold'),
  httpHost: '127.0.0.1',
  httpPort: 8080,
  publicUrl: null,
  httpTokensFile: null,
  httpAllowedHosts: null,
  metricsAuth: 'public',
  httpMaxConnections: 1024,
  httpMaxStreams: 64,
  maxConcurrent: { trusted: 64, untrusted: 16 },
  maxPending: 100_000,
  retentionSeconds: 24 * 3600,
  intakeBatch: 500,
  blockTimeoutSeconds: 2,
  maxPayloadBytes: 64 * 1024,
  maxDeadLetters: 10_000,
  reaperIntervalMs: 1_000,
  renewTickMs: 1_000,
  teardownGraceMs: 5_000,
  historySeconds: 0,
  historyMaxBytes: 256 * 1024 * 1024,
  policy: {},
  pools: [],
  poolSweepMs: 30_000,
};

/** `trusted=64,untrusted=16` → limits; a missing type keeps its default. */
export function parseConcurrency(text: string, base = DEFAULT_CONFIG.maxConcurrent): Record<WorkloadType, number> {
  const limits = { ...base };
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [type, value] = part.split('=');
    const n = Number(value);
    if ((type !== 'trusted' && type !== 'untrusted') || !Number.isInteger(n) || n < 1) {
      throw new ConfigError(`--max-concurrent takes type=N pairs such as trusted=64,untrusted=16, not "${part}"`);
    }
    limits[type] = n;
  }
  return limits;
}

export function parseSandbox(name: string): SandboxName {
  if (!(SANDBOXES as readonly string[]).includes(name)) {
    throw new ConfigError(`unknown sandbox "${name}"; available: ${SANDBOXES.join(', ')}`);
  }
  return name as SandboxName;
}

export function parseRuntime(name: string): RuntimeName {
  if (!(RUNTIMES as readonly string[]).includes(name)) {
    throw new ConfigError(`unknown runtime "${name}"; available: ${RUNTIMES.join(', ')}`);
  }
  return name as RuntimeName;
}

export function parseMetricsAuth(value: string): MetricsAuth {
  if (!(METRICS_AUTH as readonly string[]).includes(value)) {
    throw new ConfigError(`--metrics-auth takes ${METRICS_AUTH.join(' or ')}, not "${value}"`);
  }
  return value as MetricsAuth;
}

/** `localhost:8080,leasehold.example.com` → the list; empty entries are dropped. */
export function parseHostList(text: string): string[] {
  return text.split(',').map((host) => host.trim()).filter(Boolean);
}
