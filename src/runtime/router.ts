import type { WorkloadType } from '../../machines/index.js';
import type { WorkloadSpec } from '../spec/index.js';
import type { WorkloadRuntime } from './runtime.js';

/**
 * Routes each workload type to its runtime by configuration. Untrusted work goes only to a runtime
 * that isolates it and is available now; otherwise it is rejected with the reason, never sent to
 * a trusted runtime instead.
 */
export class TypeRouter {
  constructor(private readonly routes: Readonly<Record<WorkloadType, WorkloadRuntime | null>>) {}

  route(spec: WorkloadSpec): { runtime: WorkloadRuntime } | { rejection: string } {
    const runtime = this.routes[spec.type];
    if (!runtime) {
      return { rejection: `no runtime is configured for ${spec.type} workloads` };
    }
    if (spec.type === 'untrusted' && !runtime.isolated) {
      return { rejection: `untrusted workloads need an isolating runtime, and ${runtime.name} does not isolate` };
    }
    const unavailable = runtime.unavailableReason();
    if (unavailable) return { rejection: unavailable };
    return { runtime };
  }

  all(): WorkloadRuntime[] {
    return [...new Set(Object.values(this.routes).filter((r): r is WorkloadRuntime => r !== null))];
  }
}
