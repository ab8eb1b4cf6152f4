import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'leasehold-hb-';

/**
 * A directory for the heartbeat sockets, in /tmp so that socket paths stay short and the sandbox
 * user can reach them. Its name carries our pid, so that a later start removes the directories
 * of control planes that died without cleaning up (kill -9) and leaves live ones alone.
 */
export function makeHeartbeatSocketDir(root = tmpdir()): string {
  removeAbandoned(root);
  const dir = mkdtempSync(join(root, `${PREFIX}${process.pid}-`));
  chmodSync(dir, 0o711);
  return dir;
}

function removeAbandoned(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /^leasehold-hb-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    rmSync(join(root, name), { recursive: true, force: true });
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
