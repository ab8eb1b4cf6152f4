/**
 * CPU time each process of a measurement spent, from /proc (Linux): whether a run was bound by
 * one process, or by the machine's cores all being busy, which no number of replicas can beat.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Milliseconds of user and system CPU of a process so far; 0 once it is gone. */
function cpuMsOf(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

export type Roles = Record<string, readonly number[]>;

export interface CpuReport {
  /** CPU ms per 1,000 workloads, by role (`leasehold`, `redis`, `nats`, `driver`, `bullmq`). */
  readonly ms_per_1000: Record<string, number>;
  /** All of it over wall time × cores: near 100 % means the machine itself was the limit. */
  readonly machine_busy_pct: number;
}

export interface CpuUsed {
  readonly byRole: Record<string, number>;
  readonly wallMs: number;
}

/** Starts counting now; `stop` says how many CPU ms each role used since, over how much wall time. */
export function meterCpu(roles: Roles): { stop(): CpuUsed } {
  const sample = () => Object.fromEntries(Object.entries(roles).map(([role, pids]) => [role, pids.reduce((sum, pid) => sum + (pid === process.pid ? driverMs() : cpuMsOf(pid)), 0)]));
  const before = sample();
  const started = performance.now();
  return {
    stop() {
      const after = sample();
      return { byRole: Object.fromEntries(Object.keys(roles).map((role) => [role, after[role]! - before[role]!])), wallMs: performance.now() - started };
    },
  };
}

/** Several measurements of the same kind added up. */
export function addCpu(a: CpuUsed | undefined, b: CpuUsed): CpuUsed {
  if (!a) return b;
  const byRole = { ...a.byRole };
  for (const [role, ms] of Object.entries(b.byRole)) byRole[role] = (byRole[role] ?? 0) + ms;
  return { byRole, wallMs: a.wallMs + b.wallMs };
}

export function cpuReport(used: CpuUsed, workloads: number): CpuReport {
  const total = Object.values(used.byRole).reduce((a, b) => a + b, 0);
  return {
    ms_per_1000: Object.fromEntries(Object.entries(used.byRole).map(([role, ms]) => [role, Math.round((ms / workloads) * 1000)])),
    machine_busy_pct: Math.round((total / (used.wallMs * cpus().length)) * 100),
  };
}

function driverMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
