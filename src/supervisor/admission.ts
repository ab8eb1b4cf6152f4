import { WORKLOAD_TYPES, type WorkloadType } from '../../machines/index.js';

/** A FIFO that does not shift arrays: O(1) per operation even with 100,000 waiting. */
class Fifo {
  private items: string[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: string): void {
    this.items.push(item);
  }

  shift(): string | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** Per-type concurrency limits: a workload leaves `queued` only when its type has a free slot. */
export class AdmissionQueue {
  private readonly queues = new Map<WorkloadType, Fifo>(WORKLOAD_TYPES.map((t) => [t, new Fifo()]));
  private readonly inFlight = new Map<WorkloadType, number>(WORKLOAD_TYPES.map((t) => [t, 0]));

  constructor(private readonly limits: Readonly<Record<WorkloadType, number>>) {}

  get waiting(): number {
    let total = 0;
    for (const queue of this.queues.values()) total += queue.length;
    return total;
  }

  enqueue(type: WorkloadType, id: string): void {
    this.queues.get(type)!.push(id);
  }

  /** The next id allowed to start, with its slot taken; null when none may start now. */
  next(type: WorkloadType): string | null {
    if (this.inFlight.get(type)! >= this.limits[type]) return null;
    const id = this.queues.get(type)!.shift();
    if (id === undefined) return null;
    this.take(type);
    return id;
  }

  /** Counts a workload that holds a slot without having waited for it (restored after a restart). */
  take(type: WorkloadType): void {
    this.inFlight.set(type, this.inFlight.get(type)! + 1);
  }

  release(type: WorkloadType): void {
    this.inFlight.set(type, Math.max(0, this.inFlight.get(type)! - 1));
  }

  active(type: WorkloadType): number {
    return this.inFlight.get(type)!;
  }
}
