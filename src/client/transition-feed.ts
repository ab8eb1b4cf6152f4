import type { TransitionMessage } from '../events/transition.js';

/**
 * The queue between where transitions come from (a JetStream consumer, a core subscription) and
 * the program iterating them. `room()` lets a source that can wait (JetStream) stop pulling while
 * the program is behind, so a slow reader holds the server's copy rather than this process's memory.
 */
export class TransitionFeed {
  private readonly queue: TransitionMessage[] = [];
  private waiting: ((result: IteratorResult<TransitionMessage>) => void) | null = null;
  private failWaiting: ((error: unknown) => void) | null = null;
  private ended = false;
  private failure: unknown = null;
  private roomWaiters: (() => void)[] = [];

  constructor(private readonly highWater = 1_000) {}

  get isEnded(): boolean {
    return this.ended;
  }

  push(transition: TransitionMessage): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = this.failWaiting = null;
      resolve({ value: transition, done: false });
    } else this.queue.push(transition);
  }

  /** No more transitions: the iteration ends once the queue is read, or at once with `error`. */
  end(error: unknown = null): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    if (error !== null) this.queue.length = 0;
    for (const wake of this.roomWaiters.splice(0)) wake();
    if (this.waiting && this.queue.length === 0) {
      const [resolve, reject] = [this.waiting, this.failWaiting!];
      this.waiting = this.failWaiting = null;
      if (error !== null) reject(error);
      else resolve({ value: undefined, done: true });
    }
  }

  /** Resolves when the program has read the queue down below its high-water mark (or it ended). */
  async room(): Promise<void> {
    if (this.queue.length < this.highWater || this.ended) return;
    await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  next(): Promise<IteratorResult<TransitionMessage>> {
    const value = this.queue.shift();
    if (value !== undefined) {
      if (this.queue.length < this.highWater) for (const wake of this.roomWaiters.splice(0)) wake();
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return this.failure !== null ? Promise.reject(this.failure) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }
}

/**
 * Drops what was delivered already, by `(id, seq)`: the control plane sends the last seconds of
 * transitions again after a NATS outage, and a resumed consumer may overlap what came before. A
 * new run of an id (resubmitted once its record expired) starts again at seq 1, with a `queued`
 * of its own time, and is let through. Remembers at most `limit` workloads, the oldest forgotten.
 */
export class SeenTransitions {
  private readonly last = new Map<string, { seq: number; runAt: string }>();

  constructor(private readonly limit = 100_000) {}

  /** True the first time a transition is offered. */
  isNew(t: TransitionMessage): boolean {
    const seen = this.last.get(t.id);
    const newRun = t.from === null && seen !== undefined && seen.runAt !== t.at;
    if (seen && !newRun && t.seq <= seen.seq) return false;
    const runAt = newRun || !seen ? (t.from === null ? t.at : (seen?.runAt ?? '')) : seen.runAt;
    this.last.delete(t.id);
    this.last.set(t.id, { seq: t.seq, runAt });
    if (this.last.size > this.limit) this.last.delete(this.last.keys().next().value!);
    return true;
  }
}
