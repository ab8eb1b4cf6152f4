import { WORKLOAD_TYPES, type WorkloadType } from '../../machines/index.js';
import { AdmissionQueue } from './admission.js';
import type { WorkloadEntry, WorkloadRegistry } from './workload-registry.js';

/**
 * Lets queued workloads start as slots of their type free up, and tells intake when it may hand
 * over more (backpressure: past `maxPending` waiting, intake pauses until this says otherwise).
 */
export class AdmissionPump {
  private readonly queue: AdmissionQueue;
  private capacityListener: (() => void) | null = null;

  constructor(
    maxConcurrent: Readonly<Record<WorkloadType, number>>,
    private readonly maxPending: number,
    private readonly workloads: Pick<WorkloadRegistry, 'get'>,
  ) {
    this.queue = new AdmissionQueue(maxConcurrent);
  }

  /** How many more workloads intake may hand over now. */
  capacity(): number {
    return this.maxPending - this.queue.waiting;
  }

  onCapacity(listener: () => void): void {
    this.capacityListener = listener;
  }

  /** Tells intake it may hand over more, if it may. */
  notifyCapacity(): void {
    if (this.capacity() > 0) this.capacityListener?.();
  }

  /** The workload waits for a slot of its type (pump to let it start). */
  enqueue(entry: WorkloadEntry): void {
    this.queue.enqueue(entry.spec.type, entry.spec.id);
  }

  /** A workload restored past `queued` holds a slot without having waited for it. */
  occupy(entry: WorkloadEntry): void {
    entry.admitted = true;
    this.queue.take(entry.spec.type);
  }

  /** Gives back the slot of a workload no longer driven here (handed over); pump afterwards. */
  release(entry: WorkloadEntry): void {
    if (entry.admitted) this.queue.release(entry.spec.type);
  }

  /** A workload ended: its slot goes to the next of its type at once. */
  finished(entry: WorkloadEntry): void {
    if (entry.admitted) {
      this.queue.release(entry.spec.type);
      this.pump(entry.spec.type);
    }
    this.notifyCapacity();
  }

  pumpAll(): void {
    for (const type of WORKLOAD_TYPES) this.pump(type);
  }

  /** Admits waiting workloads of the type while it has free slots. */
  pump(type: WorkloadType): void {
    for (let id = this.queue.next(type); id !== null; id = this.queue.next(type)) {
      const entry = this.workloads.get(id);
      if (!entry || entry.state !== 'queued') {
        this.queue.release(type); // cancelled while waiting: give the slot back
        continue;
      }
      entry.admitted = true;
      entry.actor.send({ type: 'workload.admit' });
    }
  }
}
