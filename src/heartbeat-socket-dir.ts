import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'leasehold-hb-';

/**
 * A directory for the heartbeat sockets, in /tmp so that socket paths stay short and the sandbox
 * user can reach them. Its name carries our pid, so that a later start removes the directories
 * of control planes that died without cleaning up (kill -9) and leaves live ones alone.
 */
export function makeHeartbeatSocketDir(root = tmpdir()): string {
  removeAbandonedDirs(root, PREFIX);
  const dir = mkdtempSync(join(root, `${PREFIX}${process.pid}-`));
  chmodSync(dir, 0o711);
  return dir;
}

/**
 * Removes the directories under `root` named `<prefix><pid>-…` whose control plane is gone (its pid
 * is not alive), and leaves this process's and live ones' alone. `root` is shared (/tmp): anyone
 * can make such a name, so only a directory of our own user is removed, and one that cannot be
 * removed is left, never a reason to fail (before, another user's directory stopped every start).
 */
export function removeAbandonedDirs(root: string, prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) ? /^(\d+)-/.exec(name.slice(prefix.length))?.[1] : undefined;
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    const path = join(root, name);
    try {
      const stat = lstatSync(path);
      if (!stat.isDirectory() || (process.getuid !== undefined && stat.uid !== process.getuid())) continue;
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Gone meanwhile, or not ours to remove after all: it costs a directory, not a start.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
