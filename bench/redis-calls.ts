/** Redis commands run, from INFO commandstats (commands run inside scripts included). */
import type { Redis } from 'ioredis';

export async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  for (const [, name, n] of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) calls[name!] = Number(n);
  return calls;
}

/** Commands run between two readings, added to `into` (several measurements of one kind add up). */
export function addCalls(into: Record<string, number>, before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  for (const [name, n] of Object.entries(after)) {
    const delta = n - (before[name] ?? 0);
    if (delta > 0) into[name] = (into[name] ?? 0) + delta;
  }
  return into;
}

/** Per workload: every command (those a script runs count too), and the busiest few by name. */
export function callsPerWorkload(calls: Record<string, number>, workloads: number) {
  const sorted = Object.entries(calls).sort((a, b) => b[1] - a[1]);
  const per = (n: number) => +(n / workloads).toFixed(2);
  return { total: per(sorted.reduce((sum, [, n]) => sum + n, 0)), top: Object.fromEntries(sorted.slice(0, 10).map(([name, n]) => [name, per(n)])) };
}
