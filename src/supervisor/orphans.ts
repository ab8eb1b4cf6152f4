import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RuntimeRouter, SnapshotStore } from './ports.js';

/**
 * Tears down what the runtimes hold that no workload claims: only what Redis says is finished
 * or absent (never what another replica drives), and only once it has been so for a grace
 * period, so that a record on its way (or a Redis hiccup) is never mistaken for an orphan.
 */
export class OrphanCollector {
  /** When each suspect was first seen unclaimed. */
  private readonly orphanSince = new Map<string, number>();

  constructor(
    private readonly router: Pick<RuntimeRouter, 'all'>,
    private readonly store: Pick<SnapshotStore, 'load'>,
    /** True for a workload driven here: never an orphan, whatever Redis says. */
    private readonly drivenHere: (id: string) => boolean,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** One sweep of every runtime; resolves with how many orphans it tore down. */
  async collect(graceMs = 0): Promise<number> {
    let orphans = 0;
    for (const runtime of this.router.all()) {
      for (const id of await runtime.list()) {
        if (this.drivenHere(id)) continue;
        const stored = await this.store.load(id);
        if (stored && stored.state !== 'tornDown') continue;
        const seen = this.orphanSince.get(id) ?? this.clock.now();
        this.orphanSince.set(id, seen);
        if (this.clock.now() - seen < graceMs) continue;
        this.orphanSince.delete(id);
        orphans++;
        this.log.warn({ workload: id, runtime: runtime.name }, 'tearing down an orphan no workload claims');
        await runtime.teardown(id).catch((error: unknown) => this.log.error({ err: error, workload: id }, 'orphan teardown failed'));
      }
    }
    return orphans;
  }
}
