import type { TransitionMessage } from '../events/transition.js';

/**
 * Exit codes, documented in the README (The CLI). Every command: 0 done, 1 it failed (a server
 * unreachable, a refusal, a lost connection), 2 bad input (nothing was done), 124 a `--timeout`
 * passed. `submit --wait` answers for the workload, as `docker run` and `kubectl run --attach`
 * do: its own exit code passes through, and the CLI's own failures take codes of their own.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** A `--timeout` passed first (the number `timeout(1)` uses). */
  timeout: 124,
  /** `submit --wait`: the CLI failed (nothing submitted, or it lost track of the workload). */
  cliFailed: 125,
  /** `submit --wait`: the workload ended without an exit code of its own (rejected, cancelled, lease expired, deadline, killed…). */
  noExitCode: 126,
} as const;

/** What `submit --wait` exits with once the workload is torn down. */
export function exitCodeOfEnd(end: TransitionMessage): number {
  if (end.reason === 'completed') return EXIT.ok;
  const code = end.exitCode;
  // A process's own code is 1–255; anything else (none, a signal's negative number) says nothing
  // a shell could tell apart from the CLI's own codes.
  if (code !== undefined && Number.isInteger(code) && code >= 1 && code <= 255) return code;
  return EXIT.noExitCode;
}

/** A sentence for stderr that names the code, so a person never has to look it up. */
export function describeEnd(end: TransitionMessage): string {
  const code = exitCodeOfEnd(end);
  if (code === EXIT.ok) return `${end.id} completed`;
  if (code === EXIT.noExitCode) return `${end.id} ended (${end.reason ?? 'no reason given'}) without an exit code of its own; exit code ${EXIT.noExitCode}`;
  return `${end.id} failed with exit code ${code}`;
}
