import type { WorkloadType } from '../../machines/index.js';
import { ConfigError } from '../errors.js';
import type { WorkloadRuntime } from '../runtime/runtime.js';
import { PooledRuntime, type PooledRuntimeOptions } from './pooled-runtime.js';
import type { PoolStats } from './warm-pool.js';

/**
 * Puts warm pools in front of the runtimes that run their types. One PooledRuntime per runtime,
 * however many types it takes, so that each runtime's events reach the supervisor once.
 */
export function withWarmPools(
  routes: Readonly<Record<WorkloadType, WorkloadRuntime | null>>,
  options: Omit<PooledRuntimeOptions, 'templates'>,
  templates: PooledRuntimeOptions['templates'],
): Record<WorkloadType, WorkloadRuntime | null> {
  if (templates.length === 0) return { ...routes };
  const wrapped = new Map<WorkloadRuntime, PooledRuntime>();
  for (const runtime of new Set(Object.values(routes))) {
    if (!runtime) continue;
    const own = templates.filter((template) => routes[template.type] === runtime);
    if (own.length > 0) wrapped.set(runtime, new PooledRuntime(runtime, { ...options, templates: own }));
  }
  for (const template of templates) {
    if (!routes[template.type]) throw new ConfigError(`a warm pool is declared for ${template.type} workloads, but no runtime takes them`);
  }
  return {
    trusted: routes.trusted && (wrapped.get(routes.trusted) ?? routes.trusted),
    untrusted: routes.untrusted && (wrapped.get(routes.untrusted) ?? routes.untrusted),
  };
}

/** Every pool of these runtimes, for /metrics and the inspector. */
export function poolStatsOf(runtimes: readonly WorkloadRuntime[]): PoolStats[] {
  return runtimes.flatMap((runtime) => (runtime instanceof PooledRuntime ? runtime.poolStats() : []));
}
