import type { Clock } from '../clock.js';

/**
 * One timer for every deadline of every workload: a binary min-heap of (time, id, kind), and a
 * single clock timer armed for the earliest. Cancelling is lazy: an entry whose workload moved on
 * is simply ignored when it comes due (the machine checks its own deadline before acting).
 */
export class DeadlineScheduler<K extends string> {
  private readonly heap: { at: number; id: string; kind: K }[] = [];
  private timer: unknown = null;
  private armedFor = Infinity;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly fire: (id: string, kind: K) => void,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(id: string, kind: K, at: number): void {
    this.heap.push({ at, id, kind });
    this.up(this.heap.length - 1);
    if (at < this.armedFor) this.arm();
  }

  /** Drops entries that no longer matter (their workload ended), so the heap tracks live work only. */
  compact(keep: (id: string, kind: K) => boolean): void {
    const kept = this.heap.filter((entry) => keep(entry.id, entry.kind));
    this.heap.length = 0;
    for (const entry of kept) {
      this.heap.push(entry);
      this.up(this.heap.length - 1);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    const next = this.heap[0];
    if (!next) {
      this.timer = null;
      this.armedFor = Infinity;
      return;
    }
    this.armedFor = next.at;
    // Node caps timers at 2^31-1 ms; a later deadline is simply re-armed when that one fires.
    const delay = Math.min(Math.max(0, next.at - this.clock.now()), 2 ** 31 - 1);
    this.timer = this.clock.setTimeout(() => this.run(), delay);
  }

  private run(): void {
    this.timer = null;
    const now = this.clock.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const { id, kind } = this.pop();
      this.fire(id, kind);
    }
    this.arm();
  }

  private pop(): { at: number; id: string; kind: K } {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && heap[left]!.at < heap[smallest]!.at) smallest = left;
      if (right < heap.length && heap[right]!.at < heap[smallest]!.at) smallest = right;
      if (smallest === i) return;
      [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
      i = smallest;
    }
  }
}
