import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntimeError } from '../../errors.js';
import type { WorkloadLimits } from './sandbox-limits.js';

/**
 * One cgroup per sandbox, so that memory, processes and CPU are bounded for all of a sandbox's
 * processes together (rlimits bound each process alone: four processes took four times the limit).
 *
 * Groups live at `<the control plane's own group>/leasehold/<scope>/w-<workload id>`, so that a limit
 * put on the control plane's container holds for its sandboxes too. The `w-` keeps a workload id
 * from naming one of the control files every v1 group has (`tasks`, `notify_on_release`). The scope is a hash of the
 * control plane's state directory, so that two control planes on one host (or two test runs) never
 * remove each other's groups, while a restarted control plane finds what its predecessor left.
 * Every path here is made of the control plane's own names and a workload id the spec schema
 * restricted to a DNS label: nothing a submitter writes picks a path or a value.
 */
export interface Cgroups {
  /** `cgroup v1` or `cgroup v2`, and where, for the log. */
  readonly description: string;
  /** Makes the groups of one workload with its limits; returns the files its first process writes its pid to. */
  create(id: string, limits: WorkloadLimits): string[];
  /** Kills whatever still runs in the workload's groups and removes them. Idempotent. */
  remove(id: string): Promise<void>;
  /** Workload ids with groups in this scope, live or left by a crash. */
  ids(): string[];
  /** Removes this scope's own directories if no workload's group is left in them. */
  removeScope(): void;
}

const CONTROLLERS = ['memory', 'pids', 'cpu'] as const;
const GROUP_PREFIX = 'w-';
const groupName = (id: string) => `${GROUP_PREFIX}${id}`;
const CPU_PERIOD_US = 100_000;

/** A stable, short name for the groups of the control plane whose state lives in `stateDir`. */
export function cgroupScope(stateDir: string): string {
  return createHash('sha256').update(stateDir).digest('hex').slice(0, 12);
}

/**
 * The cgroups this host lets us manage: v2 where a delegated group offers memory, pids and cpu to
 * its children; else v1 where the memory, pids and cpu hierarchies are writable (as root); else
 * the reason neither can be used, which the caller logs once.
 */
export function openCgroups(scope: string, root = '/sys/fs/cgroup', self = '/proc/self/cgroup'): Cgroups | { unavailable: string } {
  const reasons: string[] = [];
  const v2 = openV2(scope, root, self);
  if ('description' in v2) return v2;
  reasons.push(v2.unavailable);
  const v1 = openV1(scope, root, self);
  if ('description' in v1) return v1;
  reasons.push(v1.unavailable);
  return { unavailable: reasons.join('; ') };
}

function openV1(scope: string, root: string, self: string): Cgroups | { unavailable: string } {
  const membership = v1Membership(safeRead(self));
  const bases: string[] = [];
  for (const controller of CONTROLLERS) {
    const marker = join(root, controller, controller === 'memory' ? 'memory.limit_in_bytes' : controller === 'pids' ? 'cgroup.procs' : 'cpu.cfs_period_us');
    if (!existsSync(marker)) return { unavailable: `cgroup v1: no ${controller} hierarchy at ${join(root, controller)}` };
    const own = membership.get(controller);
    if (own === undefined) return { unavailable: `cgroup v1: this process is in no ${controller} group` };
    const base = join(root, controller, own, 'leasehold', scope);
    if (!base.startsWith(join(root, controller))) return { unavailable: `cgroup v1: ${controller} group ${own} is outside ${root}` };
    try {
      mkdirSync(base, { recursive: true });
    } catch (error) {
      return { unavailable: `cgroup v1: cannot create ${base} (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
    }
    bases.push(base);
  }
  const dirsOf = (id: string) => bases.map((base) => join(base, groupName(id)));
  return {
    description: `cgroup v1 (${bases.join(', ')})`,
    create(id, limits) {
      const [memory, pids, cpu] = dirsOf(id) as [string, string, string];
      for (const dir of [memory, pids, cpu]) mkdirSync(dir, { recursive: true });
      writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // Memory plus swap, where the kernel accounts swap: the same number, so that no swap is used.
      if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      writeFileSync(join(pids, 'pids.max'), String(limits.pids));
      writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(Math.round((limits.cpuMillis * CPU_PERIOD_US) / 1000)));
      return [memory, pids, cpu].map((dir) => join(dir, 'cgroup.procs'));
    },
    remove: (id) => removeGroups(dirsOf(id), null),
    ids: () => workloadIds(bases[0]!),
    removeScope: () => bases.forEach(removeScopeDirs),
  };
}

function openV2(scope: string, root: string, self: string): Cgroups | { unavailable: string } {
  const mount = [root, join(root, 'unified')].find((dir) => existsSync(join(dir, 'cgroup.controllers')));
  if (!mount) return { unavailable: 'cgroup v2: not mounted' };
  const own = /^0::(\/.*)$/m.exec(safeRead(self))?.[1];
  if (!own) return { unavailable: 'cgroup v2: this process is in no v2 group' };
  // Our own group if it may have children with controllers; else its parent, as with systemd's
  // Delegate=yes plus DelegateSubgroup=, where the control plane runs in a leaf of its delegated group.
  const candidates = [join(mount, own), dirname(join(mount, own))].filter((dir) => dir.startsWith(mount));
  let why = '';
  for (const delegated of candidates) {
    const available = safeRead(join(delegated, 'cgroup.controllers')).split(/\s+/);
    const missing = CONTROLLERS.filter((c) => !available.includes(c));
    if (missing.length > 0) {
      why = `cgroup v2: ${delegated} offers no ${missing.join(', ')} controller`;
      continue;
    }
    const leasehold = join(delegated, 'leasehold');
    const base = join(leasehold, scope);
    try {
      enableControllers(delegated);
      mkdirSync(base, { recursive: true });
      enableControllers(leasehold);
      enableControllers(base);
    } catch (error) {
      why = `cgroup v2: cannot delegate memory, pids and cpu below ${delegated} (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
      continue;
    }
    return {
      description: `cgroup v2 (${base})`,
      create(id, limits) {
        const dir = join(base, groupName(id));
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
        if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
        writeFileSync(join(dir, 'pids.max'), String(limits.pids));
        writeFileSync(join(dir, 'cpu.max'), `${Math.round((limits.cpuMillis * CPU_PERIOD_US) / 1000)} ${CPU_PERIOD_US}`);
        return [join(dir, 'cgroup.procs')];
      },
      remove: (id) => removeGroups([join(base, groupName(id))], join(base, groupName(id), 'cgroup.kill')),
      ids: () => workloadIds(base),
      removeScope: () => removeScopeDirs(base),
    };
  }
  return { unavailable: why };
}

function enableControllers(dir: string): void {
  const enabled = safeRead(join(dir, 'cgroup.subtree_control')).split(/\s+/);
  const missing = CONTROLLERS.filter((c) => !enabled.includes(c));
  if (missing.length > 0) writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
}

/**
 * SIGKILL for every process left (cgroup.kill where the kernel has it, else one by one until none
 * is left: a process may fork between the read and the kill), then rmdir. A group whose last
 * processes are still being reaped is busy for a moment; one that stays busy is a transient error,
 * so that the teardown is retried rather than the group forgotten.
 */
async function removeGroups(dirs: readonly string[], killFile: string | null): Promise<void> {
  const present = dirs.filter((dir) => existsSync(dir));
  if (present.length === 0) return;
  for (let round = 0; round < 100; round++) {
    const pids = new Set(present.flatMap((dir) => safeRead(join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number)));
    if (pids.size === 0) break;
    if (killFile && existsSync(killFile)) writeFileSync(killFile, '1');
    else for (const pid of pids) killQuietly(pid);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  let busy: string | null = null;
  for (const dir of present) {
    for (let attempt = 0; ; attempt++) {
      try {
        rmdirSync(dir);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // Gone, or (a group named like a v1 control file, by an older version) never a group.
        if (code === 'ENOENT' || code === 'ENOTDIR') break;
        if (code !== 'EBUSY' || attempt >= 50) {
          busy = `${dir} (${code})`;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  if (busy) throw new RuntimeError('CGROUP_BUSY', `cannot remove the sandbox's cgroup ${busy}; processes may still be exiting`, { transient: true });
}

/**
 * `N:controller[,controller…]:/path` lines of /proc/self/cgroup, v1 ones only: each controller and
 * the group this process is in for it (`cpu` is often mounted as `cpu,cpuacct`).
 */
export function v1Membership(text: string): Map<string, string> {
  const groups = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\d+:([^:]+):(\/.*)$/.exec(line);
    if (!match) continue;
    for (const controller of match[1]!.split(',')) groups.set(controller, match[2]!);
  }
  return groups;
}

/** The scope's directory and then `leasehold/`, each if nothing is left in it. */
function removeScopeDirs(base: string): void {
  rmdirQuietly(base);
  rmdirQuietly(dirname(base));
}

function workloadIds(base: string): string[] {
  return subdirectories(base)
    .filter((name) => name.startsWith(GROUP_PREFIX))
    .map((name) => name.slice(GROUP_PREFIX.length));
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // in use (a workload's group is left) or gone
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
