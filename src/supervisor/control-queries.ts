import type { LifecycleState, WorkloadContext } from '../../machines/index.js';
import type { ExecRoute, WorkloadStatus } from '../events/transition.js';
import type { WorkloadExec } from '../runtime/exec.js';
import type { ShardOwner } from '../ownership/ownership.js';
import type { PeerForwarder, RuntimeRouter, SnapshotStore } from './ports.js';
import { toStatus } from './snapshots.js';
import type { WorkloadRegistry } from './workload-registry.js';

export type CancelReply = { ok: boolean; state?: LifecycleState; error?: string };

/** What the supervisor answers about the workloads it drives itself. */
export interface LocalWorkloads {
  status(id: string): WorkloadStatus | null;
  /** null: not driven here. */
  cancel(id: string): CancelReply | null;
  /** undefined: not driven here. */
  logs(id: string): Promise<string | null> | undefined;
  /** undefined: not driven here. */
  execRoute(id: string): ExecRoute | undefined;
}

/**
 * The answers of the workloads in `workloads`: those driven by this replica. `renew` renews a
 * workload's lease (LeaseKeeper.renew, as a heartbeat does); an exec renews it while it runs.
 */
export function localWorkloads(workloads: Pick<WorkloadRegistry, 'get'>, renew: (id: string) => boolean = () => false): LocalWorkloads {
  return {
    execRoute: (id) => {
      const entry = workloads.get(id);
      if (!entry) return undefined;
      if (entry.state !== 'running') return { code: 'NOT_RUNNING', error: `workload ${id} is ${entry.state ?? 'queued'}, not running` };
      const runtime = entry.runtime;
      if (!runtime?.exec) return { code: 'UNSUPPORTED', error: `the ${runtime?.name ?? 'workload\'s'} runtime cannot run commands in a workload` };
      return { run: renewedWhileRunning(id, entry.spec.leaseSeconds * 1000, renew, runtime.exec.bind(runtime)) };
    },
    status: (id) => {
      const entry = workloads.get(id);
      return entry ? toStatus(entry.actor.getSnapshot().context) : null;
    },
    cancel: (id) => {
      const entry = workloads.get(id);
      if (!entry) return null;
      const state = entry.state ?? 'queued';
      entry.actor.send({ type: 'workload.cancel' });
      return { ok: true, state };
    },
    logs: (id) => {
      const entry = workloads.get(id);
      return entry?.runtime ? entry.runtime.logs(id) : undefined;
    },
  };
}

export interface QueryOwnership {
  readonly replicaId: string;
  shardOf(id: string): number;
  ownerOf(shard: number): Promise<ShardOwner | null>;
}

/** `forwarded`: the request came from a peer; never forward it again (no loops between replicas). */
export interface QueryOptions {
  readonly forwarded?: boolean;
}

/**
 * Status, cancel and logs, whichever replica is asked. Status is answered from Redis when the
 * workload is not driven here (Redis holds what its owner persisted, and its owner publishes
 * nothing it has not persisted). Cancel and logs need the workload's owner: a request for a
 * workload another replica owns is forwarded to that replica, once.
 */
export class ControlQueries {
  constructor(
    private readonly local: LocalWorkloads,
    private readonly store: SnapshotStore,
    private readonly router: RuntimeRouter,
    private readonly ownership: QueryOwnership,
    private readonly peers: PeerForwarder | null,
  ) {}

  async status(id: string): Promise<WorkloadStatus | null> {
    const here = this.local.status(id);
    if (here) return here;
    const stored = await this.store.load(id);
    if (!stored) return null;
    const context = (stored.snapshot as { context?: WorkloadContext } | null)?.context;
    if (context) return toStatus(context);
    return { id, type: stored.spec.type, state: stored.state, seq: 0, timings: {} };
  }

  async cancel(id: string, options: QueryOptions = {}): Promise<CancelReply> {
    const here = this.local.cancel(id);
    if (here) return here;
    const stored = await this.store.load(id);
    if (!stored) return { ok: false, error: `no workload ${id}` };
    if (stored.state === 'tornDown') return { ok: false, error: `workload ${id} has already ended`, state: stored.state };
    const owner = await this.peerOwning(id, options);
    if (owner) {
      const reply = await this.peers!.cancel(owner, id);
      if (reply) return reply;
    }
    return { ok: false, error: `workload ${id} is changing owner (a replica stopped or joined); try again in a few seconds`, state: stored.state };
  }

  async logs(id: string, options: QueryOptions = {}): Promise<string | null> {
    const here = this.local.logs(id);
    if (here) return here;
    const owner = await this.peerOwning(id, options);
    if (owner) {
      const text = await this.peers!.logs(owner, id);
      if (text !== null) return text;
    }
    // Finished workloads' output stays with the runtime that ran them, if it ran here.
    for (const runtime of this.router.all()) {
      const text = await runtime.logs(id);
      if (text !== null) return text;
    }
    return null;
  }

  /**
   * Where an exec for `id` is served: here (it runs here), at its owner, or nowhere (why). A
   * workload that is not running, or unknown, is a clear error rather than a silence.
   */
  async execRoute(id: string, options: QueryOptions = {}): Promise<ExecRoute> {
    const here = this.local.execRoute(id);
    if (here) return here;
    const stored = await this.store.load(id);
    if (!stored) return { code: 'NOT_FOUND', error: `no workload ${id}` };
    if (stored.state === 'tornDown') return { code: 'NOT_RUNNING', error: `workload ${id} has ended` };
    const owner = await this.peerOwning(id, options);
    if (owner) return { owner };
    if (stored.state !== 'running') return { code: 'NOT_RUNNING', error: `workload ${id} is ${stored.state}, not running` };
    return { code: 'MOVING', error: `workload ${id} is changing owner (a replica stopped or joined); try again in a few seconds` };
  }

  /** The live peer that owns the workload's shard, if the request may be forwarded to it. */
  private async peerOwning(id: string, { forwarded = false }: QueryOptions): Promise<string | null> {
    if (forwarded || !this.peers) return null;
    const owner = await this.ownership.ownerOf(this.ownership.shardOf(id));
    return owner && owner.replicaId !== this.ownership.replicaId ? owner.replicaId : null;
  }
}

/**
 * An exec is use: the workload's lease is renewed when the exec starts and every third of the
 * lease while it runs (output flowing or not: a quiet `pip install` is use too). A self-heartbeating
 * session held only by its execs thus stays while they come and lapses once they stop.
 */
function renewedWhileRunning(id: string, leaseMs: number, renew: (id: string) => boolean, exec: WorkloadExec['exec']): Extract<ExecRoute, { run: unknown }>['run'] {
  return async (request, output, signal) => {
    renew(id);
    const timer = setInterval(() => renew(id), Math.max(100, leaseMs / 3));
    try {
      return await exec(id, request, output, signal);
    } finally {
      clearInterval(timer);
    }
  };
}
