import { linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { LeaseholdError } from '../errors.js';
import { isSameProcessAlive, processStartTime } from '../runtime/process/pid-files.js';

const LOCK_FILE = 'dev.lock';

/** Who holds a state directory: a pid, and its start time so that a reused pid is not mistaken for it. */
interface Holder {
  readonly pid: number;
  readonly startTime: string;
}

export interface StateDirLock {
  readonly path: string;
  /** Gives the directory up (at exit); a lock taken over by someone else since is left alone. */
  release(): void;
}

/**
 * Holds `stateDir` for this `leasehold dev` until `release`. Everything `dev` keeps there is one
 * installation's alone: its Redis append-only file (a second redis-server on it would load the
 * first's workloads, restore them as its own and end them `lost`, and both would append to one
 * file), its HTTP token, its workloads' pid files. So a second dev on a directory a live one holds
 * is refused, with the way out in the message; the lock of one that died (kill -9) is taken over.
 */
export function holdStateDir(stateDir: string): StateDirLock {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, LOCK_FILE);
  const me: Holder = { pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(path, me)) return { path, release: () => releaseIfMine(path, me) };
    const holder = read(path);
    if (holder && isSameProcessAlive(holder.pid, holder.startTime)) {
      throw new LeaseholdError(
        'STATE_DIR_IN_USE',
        `another leasehold dev (pid ${holder.pid}) is using the state directory ${stateDir}; stop it, or run this one with --installation <name> (its own directory, Redis and subjects) or --state-dir <dir>`,
      );
    }
    takeOverStale(path, holder);
  }
  throw new LeaseholdError('STATE_DIR_IN_USE', `could not take the lock ${path}: other processes keep taking it; try again`);
}

/** True when this process created the lock file; false when one is there already. */
function create(path: string, me: Holder): boolean {
  // Written in full under another name, then linked in: nobody ever reads a half-written lock.
  const staging = `${path}.${process.pid}`;
  const fd = openSync(staging, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(me));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(staging, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(staging, { force: true });
  }
}

function read(path: string): Holder | null {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    return typeof holder.pid === 'number' && typeof holder.startTime === 'string' ? { pid: holder.pid, startTime: holder.startTime } : null;
  } catch {
    return null;
  }
}

/**
 * Removes the lock of a dev that died. Two starting at once may both find it stale: each moves the
 * file aside under its own name (only one move of a given file succeeds), and one that finds it
 * moved a fresh lock instead (the other's, just taken) puts it back.
 */
function takeOverStale(path: string, stale: Holder | null): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // gone already: someone else took it over; try again from the top
  }
  const moved = read(aside);
  const wasStale = stale === null ? moved === null : moved !== null && moved.pid === stale.pid && moved.startTime === stale.startTime;
  if (!wasStale) {
    try {
      linkSync(aside, path);
    } catch {
      // A third one holds it now: ours to leave, theirs to keep.
    }
  }
  rmSync(aside, { force: true });
}

function releaseIfMine(path: string, me: Holder): void {
  const holder = read(path);
  if (holder?.pid === me.pid && holder.startTime === me.startTime) rmSync(path, { force: true });
}
