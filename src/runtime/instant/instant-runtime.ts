import type { ObservedStatus, ProvisionResult } from '../../../machines/index.js';
import type { WorkloadSpec } from '../../spec/index.js';
import { isSession, workloadArgv } from '../../spec/session.js';
import type { RuntimeEvent, RuntimeListener, WorkloadRuntime } from '../runtime.js';

/**
 * A benchmark runtime, not a product runtime: it runs nothing. Provisioning succeeds at once and
 * the "workload" exits on the next turn of the event loop, so a benchmark measures the control
 * plane alone. It reads just enough of `cmd` to pass the runtime conformance suite: a command
 * containing `sleep` keeps running until torn down, `exit N` exits with N, anything else with 0.
 */
export class InstantRuntime implements WorkloadRuntime {
  readonly name = 'instant';
  readonly isolated = false;
  /** Its simulated workloads stand for Pods: they outlive a control plane that shares the instance. */
  readonly adoptable: boolean = true;
  private readonly live = new Map<string, number | null>();
  private readonly listeners = new Set<RuntimeListener>();

  unavailableReason(): string | null {
    return null;
  }

  async start(): Promise<void> {}

  async provision(id: string, spec: WorkloadSpec): Promise<ProvisionResult> {
    if (this.live.has(id)) return { state: 'running' };
    // A session (no cmd) is its keeper: it runs until torn down, as everywhere else.
    const line = workloadArgv(spec).join(' ');
    this.live.set(id, null);
    if (!isSession(spec) && !line.includes('sleep')) {
      const exitCode = Number(/exit (\d+)/.exec(line)?.[1] ?? 0);
      setImmediate(() => {
        if (!this.live.has(id)) return;
        this.live.set(id, exitCode);
        this.emit(id, { type: 'runtime.exited', exitCode });
      });
    }
    return { state: 'running' };
  }

  async status(id: string): Promise<ObservedStatus> {
    if (!this.live.has(id)) return { state: 'notFound' };
    const exitCode = this.live.get(id);
    return exitCode === null || exitCode === undefined ? { state: 'running', adoptable: true } : { state: 'exited', exitCode };
  }

  async teardown(id: string): Promise<void> {
    this.live.delete(id);
  }

  watch(listener: RuntimeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async list(): Promise<string[]> {
    return [...this.live.keys()];
  }

  async logs(): Promise<string | null> {
    return null;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private emit(id: string, event: RuntimeEvent): void {
    for (const listener of this.listeners) listener(id, event);
  }
}
