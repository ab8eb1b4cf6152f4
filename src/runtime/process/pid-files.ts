import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface PidRecord {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: tells a reused pid from ours. */
  readonly startTime: string;
  readonly exitCode?: number | null;
  /**
   * Process groups of execs run in the workload on this host (their leader's pid and start time):
   * a control plane killed with -9 forgets them, and the next one must still stop what they run.
   */
  readonly execGroups?: readonly { readonly pid: number; readonly startTime: string }[];
}

/**
 * One small file per local workload, written synchronously right after spawn, so that a control
 * plane killed with -9 can be followed by one that finds and stops every process it left.
 */
export class PidFiles {
  constructor(private readonly dir: string) {}

  ensureDir(): void {
    mkdirSync(this.dir, { recursive: true });
  }

  write(id: string, pid: number): void {
    this.ensureDir();
    const record: PidRecord = { pid, startTime: processStartTime(pid) ?? '' };
    writeFileSync(this.path(id), JSON.stringify(record));
  }

  recordExit(id: string, exitCode: number | null): void {
    const record = this.read(id);
    if (record) writeFileSync(this.path(id), JSON.stringify({ ...record, exitCode }));
  }

  /** Remembers an exec's process group, so that teardown after a crash reaches it (killExecGroups). */
  addExecGroup(id: string, pid: number): void {
    const record = this.read(id);
    if (!record) return;
    const live = (record.execGroups ?? []).filter((group) => groupMayLive(group.pid, group.startTime));
    writeFileSync(this.path(id), JSON.stringify({ ...record, execGroups: [...live, { pid, startTime: processStartTime(pid) ?? '' }] }));
  }

  read(id: string): PidRecord | null {
    try {
      return JSON.parse(readFileSync(this.path(id), 'utf8')) as PidRecord;
    } catch {
      return null;
    }
  }

  remove(id: string): void {
    rmSync(this.path(id), { force: true });
  }

  ids(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((name) => name.endsWith('.json'))
        .map((name) => name.slice(0, -'.json'.length));
    } catch {
      return [];
    }
  }

  private path(id: string): string {
    return join(this.dir, `${id}.json`);
  }
}

/** Fields 3 onwards of /proc/<pid>/stat, or null when there is no such process. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields after the last ')' are plain.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

export function processStartTime(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

export function isSameProcessAlive(pid: number, startTime: string): boolean {
  const fields = statFields(pid);
  // A zombie ('Z') has exited; only its parent's wait() is missing.
  if (!fields || fields[0] === 'Z') return false;
  return startTime === '' || fields[19] === startTime;
}

/** Signals a whole process group; a group that is already gone is not an error. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Whether process group `pid` may still hold processes of ours: its leader is alive and the same
 * process (same start time), or its leader is gone, where what it left in the group lives on
 * (`sleep &` in an exec). A leader's pid now used by another process means the number was free,
 * which the kernel allows only once no process is left in the old group: nothing of ours is there.
 */
export function groupMayLive(pid: number, startTime: string): boolean {
  const fields = statFields(pid);
  if (!fields || fields[0] === 'Z') return hasMembers(pid);
  return startTime === '' || fields[19] === startTime;
}

function hasMembers(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills every exec group a record names that may still hold processes of ours (see groupMayLive). */
export function killExecGroups(record: PidRecord): void {
  for (const group of record.execGroups ?? []) if (groupMayLive(group.pid, group.startTime)) killGroup(group.pid, 'SIGKILL');
}
