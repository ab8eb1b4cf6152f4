import type { WorkloadSpec } from '../../spec/index.js';

const MIB = 2 ** 20;

/**
 * What an operator allows a sandbox, from the control plane's configuration. A spec's `resources`
 * choose within these bounds; nothing a submitter writes raises them.
 */
export interface SandboxLimits {
  /** Memory of all of a sandbox's processes together, when its spec says nothing. */
  readonly defaultMemoryBytes: number;
  /** The most memory a spec can ask for; more is clamped to this. */
  readonly maxMemoryBytes: number;
  /** CPU in thousandths of a core (Kubernetes millicores), when its spec says nothing. */
  readonly defaultCpuMillis: number;
  readonly maxCpuMillis: number;
  /** Processes and threads of one sandbox at once: a fork bomb stops here. */
  readonly pids: number;
  /** The sandbox's /tmp (a tmpfs, so memory): the smaller of this and the sandbox's memory. */
  readonly maxTmpBytes: number;
  /** The unprivileged user bubblewrap runs as when the control plane is root. */
  readonly uid: number;
  readonly gid: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  defaultMemoryBytes: 512 * MIB,
  maxMemoryBytes: 4096 * MIB,
  defaultCpuMillis: 1000,
  maxCpuMillis: 2000,
  pids: 256,
  maxTmpBytes: 256 * MIB,
  uid: 65534,
  gid: 65534,
};

/** Below these a sandbox cannot even start its first program; a smaller request gets these. */
const MIN_MEMORY_BYTES = 16 * MIB;
/** cgroup v1 refuses a CPU quota under 1 ms per 100 ms period. */
const MIN_CPU_MILLIS = 10;

const MAX_SHM_BYTES = 64 * MIB;

/** The limits one workload runs under. */
export interface WorkloadLimits {
  readonly memoryBytes: number;
  readonly cpuMillis: number;
  readonly pids: number;
  readonly tmpBytes: number;
  /** The sandbox's /dev/shm, a tmpfs of its own: a quarter of /tmp's size, at most 64 MiB. */
  readonly shmBytes: number;
}

export function workloadLimits(spec: Pick<WorkloadSpec, 'resources'>, limits: SandboxLimits): WorkloadLimits {
  const asked = spec.resources;
  const memoryBytes = clamp(asked.memory ? quantityToNumber(asked.memory) : limits.defaultMemoryBytes, MIN_MEMORY_BYTES, limits.maxMemoryBytes);
  const cpuMillis = clamp(asked.cpu ? quantityToNumber(asked.cpu) * 1000 : limits.defaultCpuMillis, MIN_CPU_MILLIS, limits.maxCpuMillis);
  const tmpBytes = Math.floor(Math.min(memoryBytes, limits.maxTmpBytes));
  return {
    memoryBytes: Math.floor(memoryBytes),
    cpuMillis: Math.floor(cpuMillis),
    pids: limits.pids,
    tmpBytes,
    shmBytes: Math.floor(Math.min(tmpBytes / 4, MAX_SHM_BYTES)),
  };
}

const SUFFIXES: Readonly<Record<string, number>> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** `500m` → 0.5, `256Mi` → 268435456; NaN for anything that is not a Kubernetes quantity. */
export function quantityToNumber(quantity: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(quantity.trim());
  if (!match) return Number.NaN;
  return Number(match[1]) * SUFFIXES[match[2] ?? '']!;
}

/** NaN (which the schema never lets through) takes the most cautious bound, not the largest. */
function clamp(value: number, min: number, max: number): number {
  if (Number.isNaN(value)) return min;
  return Math.min(max, Math.max(min, value));
}
