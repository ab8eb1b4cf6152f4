import type { WorkloadSpec } from './schema.js';

/**
 * What a session's runtime runs: a keeper that does nothing until it is stopped, and exits 0 on
 * SIGTERM so that a cancelled session ends as cleanly as it was asked to. One argv for every
 * runtime (a local process, the same inside bubblewrap, a Pod's container, a Firecracker guest),
 * so a session behaves the same wherever it lands.
 *
 * Why this shape: `sleep infinity` is GNU only (busybox and BSD refuse it, and an image's sleep is
 * whatever it ships), and a plain `sleep N` as PID 1 of a container ignores SIGTERM (the kernel
 * drops signals PID 1 has no handler for), so a Pod would wait out its grace period and be killed.
 * A shell with a TERM trap handles the signal even as PID 1; the sleep runs in the background and
 * `wait` is interrupted by the trap at once, rather than after the sleep ends.
 */
export const SESSION_KEEPER_ARGV: readonly string[] = Object.freeze([
  '/bin/sh',
  '-c',
  'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done',
]);

/**
 * The argv a runtime starts for `spec`: its `cmd` (a string run by `/bin/sh -c`), or the session
 * keeper. Decided by `cmd`, not `mode`, so that a record written before sessions existed (no
 * `mode`) still runs its command.
 */
export function workloadArgv(spec: Pick<WorkloadSpec, 'cmd'>): string[] {
  if (spec.cmd === undefined) return [...SESSION_KEEPER_ARGV];
  return typeof spec.cmd === 'string' ? ['/bin/sh', '-c', spec.cmd] : [...spec.cmd];
}

/** True for a session: a workload with no command of its own. */
export function isSession(spec: Pick<WorkloadSpec, 'cmd'>): boolean {
  return spec.cmd === undefined;
}
