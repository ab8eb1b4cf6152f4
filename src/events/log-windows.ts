import type { LogWindow, WorkloadRuntime } from '../runtime/runtime.js';

/** Where a workload's owner is, for a request that must reach the replica whose runtime holds it. */
export interface LogWindowRouting {
  /** The live peer replica that owns the workload's shard; null when it is this one, or nobody. */
  peerOwning(id: string): Promise<string | null>;
  /** Asks that peer for the window (its replica subject); null when it does not answer one. */
  askPeer(replicaId: string, id: string, from: number): Promise<LogWindow | null>;
}

/**
 * Answers `leasehold logs -f`'s "the output from byte N on" (see docs: the logs request): from a
 * runtime of this replica that holds the workload's output with offsets, else from the replica
 * that owns it (once: a forwarded request is not forwarded again). Null sends the asker today's
 * plain tail instead, so a runtime without offsets (Kubernetes reads the Pod's log) still answers.
 */
export class LogWindows {
  constructor(
    private readonly runtimes: () => readonly WorkloadRuntime[],
    private readonly routing: LogWindowRouting | null,
  ) {}

  async from(id: string, from: number, { forwarded = false }: { forwarded?: boolean } = {}): Promise<LogWindow | null> {
    for (const runtime of this.runtimes()) {
      const window = await runtime.logsFrom?.(id, from);
      if (window) return window;
    }
    if (forwarded || !this.routing) return null;
    const owner = await this.routing.peerOwning(id);
    return owner ? this.routing.askPeer(owner, id, from) : null;
  }
}
