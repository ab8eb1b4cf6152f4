import { execFileSync } from 'node:child_process';

/** Processes whose command line starts with `marker`: how a test sees what was left behind. */
export function processesWith(marker: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `^${marker}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
