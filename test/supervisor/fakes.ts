import type { LifecycleState } from '../../machines/index.js';
import type { TransitionMessage } from '../../src/events/transition.js';
import type { ShardGrant } from '../../src/ownership/ownership.js';

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
