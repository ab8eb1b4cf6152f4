/**
 * `--baseline DIR`: another build of Leasehold (a checkout with `npm run build` done), measured in
 * the same run as this one, on the same servers, so that a speed-up is a ratio taken side by side
 * on a shared machine rather than two numbers from two different afternoons.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export interface BuildUnderTest {
  /** Absolute path of the build's bench/plane.js. */
  readonly plane: string;
  /** A key prefix of its own, so the two builds never share records, queues or shard leases. */
  readonly prefix: string;
}

export interface Baseline extends BuildUnderTest {
  /** What it is: its directory and commit, as the report names it. */
  readonly label: string;
}

export function baselineBuild(dir: string): Baseline {
  const root = resolve(dir);
  const plane = `${root}/dist/bench/plane.js`;
  if (!existsSync(plane)) throw new Error(`--baseline ${dir}: no ${plane}; check that commit out there and run "npm run build" in it first`);
  let commit = 'unknown commit';
  try {
    commit = execFileSync('git', ['-C', root, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim().slice(0, 72);
  } catch {
    // Not a git checkout: the directory alone names it.
  }
  return { plane, prefix: 'base:', label: `${root} @ ${commit}` };
}

/** Each build `rounds` times, in the order A B B A …, so drift in the machine's load falls on both. */
export function alternating<T>(a: T, b: T, rounds: number): T[] {
  return Array.from({ length: rounds }, (_, i) => (i % 2 === 0 ? [a, b] : [b, a])).flat();
}
