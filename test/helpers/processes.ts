import { execFileSync } from 'node:child_process';

/** Processes whose command line starts with `marker`: how a test sees what was left behind. */
export function processesWith(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `^${marker}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
