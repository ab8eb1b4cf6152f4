import type { LifecycleState, ObservedStatus, ProvisionResult } from '../../machines/index.js';
import type { TransitionMessage } from '../../src/events/transition.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';
import type { ProvisionContext, WorkloadRuntime } from '../../src/runtime/runtime.js';
import { workloadSpecSchema, type WorkloadSpec } from '../../src/spec/index.js';
import type { WorkloadEntry } from '../../src/supervisor/workload-registry.js';

/** Lets every promise callback that is already due run (and the ones they schedule, one round). */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A test may reject a flush nobody waits for any more; that is not an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * The store's flushes, as the supervisor sees them through `whenDurable()`: the same promise
 * until a later write needs a later flush (`nextFlush()`), each resolved when the test says so.
 */
export class FakeFlushes {
  private current: Deferred = deferred();
  /** Ids whose end was published, in order (what leaves the shard's active set). */
  readonly announcedIds: string[] = [];

  announced(id: string): void {
    this.announcedIds.push(id);
  }

  whenDurable(): Promise<void> {
    return this.current.promise;
  }

  /** A save that the current flush does not carry: from now on, whenDurable() waits for a new one. */
  nextFlush(): Deferred {
    const earlier = this.current;
    this.current = deferred();
    return earlier;
  }

  /** The flush that whenDurable() hands out now. */
  get open(): Deferred {
    return this.current;
  }
}

/** Ownership as the supervisor's modules ask it: per grant, held, in doubt or let go of. */
export class FakeGrants {
  private readonly states = new Map<string, 'held' | 'doubt' | 'ended'>();

  set(grant: ShardGrant, state: 'held' | 'doubt' | 'ended'): void {
    this.states.set(`${grant.shard}:${grant.epoch}`, state);
  }

  owns(grant: ShardGrant): boolean {
    return this.states.get(`${grant.shard}:${grant.epoch}`) === 'held';
  }

  hasEnded(grant: ShardGrant): boolean {
    return this.states.get(`${grant.shard}:${grant.epoch}`) === 'ended';
  }
}

export function message(id: string, to: LifecycleState, seq: number, epoch = 1): TransitionMessage {
  return { id, type: 'trusted', from: null, to, event: 'test', at: new Date(0).toISOString(), seq, epoch };
}

/** What a subscriber would have seen, as `id:state`. */
export function seen(messages: readonly TransitionMessage[]): string[] {
  return messages.map((m) => `${m.id}:${m.to}`);
}

/** A spec as intake would hand it over (defaults applied by the real schema). */
export function specOf(id: string, extra: Record<string, unknown> = {}): WorkloadSpec {
  return workloadSpecSchema.parse({ id, type: 'trusted', image: 'alpine', cmd: ['true'], ...extra });
}

/** The events a workload's actor was sent, in order. */
export class RecordingActor {
  readonly events: { type: string }[] = [];
  send(event: { type: string }): void {
    this.events.push(event);
  }
  get types(): string[] {
    return this.events.map((e) => e.type);
  }
}

/**
 * A runtime whose calls the test completes by hand: `calls` lists them in the order made, and
 * each provision waits for `finishProvision`.
 */
export class ManualRuntime implements WorkloadRuntime {
  readonly name = 'manual';
  readonly isolated = false;
  readonly calls: string[] = [];
  /** The environment each provision was given, in order. */
  readonly envs: Record<string, string>[] = [];
  private readonly provisions = new Map<string, Deferred>();

  constructor(readonly adoptable = false) {}

  unavailableReason(): string | null {
    return null;
  }
  async start(): Promise<void> {}
  async provision(id: string, _spec: WorkloadSpec, context?: ProvisionContext): Promise<ProvisionResult> {
    this.calls.push(`provision ${id}`);
    this.envs.push(context?.env ?? {});
    const pending = deferred();
    this.provisions.set(id, pending);
    await pending.promise;
    this.calls.push(`provisioned ${id}`);
    return { state: 'running' };
  }
  finishProvision(id: string): void {
    this.provisions.get(id)!.resolve();
  }
  async status(): Promise<ObservedStatus> {
    return { state: 'notFound' };
  }
  async teardown(id: string): Promise<void> {
    this.calls.push(`teardown ${id}`);
  }
  watch(): () => void {
    return () => undefined;
  }
  /** What `list()` reports the runtime holds. */
  held: string[] = [];
  async list(): Promise<string[]> {
    return [...this.held];
  }
  async logs(): Promise<string | null> {
    return null;
  }
  async close(): Promise<void> {}
}

/** A registry entry around a recording actor, as the supervisor would have spawned it. */
export function entryOf(spec: WorkloadSpec, grant: ShardGrant, runtime: WorkloadRuntime | null, state: LifecycleState | null = 'queued') {
  const actor = new RecordingActor();
  const entry: WorkloadEntry = {
    spec,
    grant,
    run: 'run-1',
    actor: actor as unknown as WorkloadEntry['actor'],
    runtime,
    state,
    admitted: false,
    detached: false,
    inflight: null,
  };
  return { entry, actor };
}
