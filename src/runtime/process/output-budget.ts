import type { Readable } from 'node:stream';

/**
 * How many bytes of a workload's output the control plane reads per window. Reading output costs
 * the control plane's CPU, which no sandbox quota covers (`cat /dev/zero` took 31% of a core), so
 * past the budget the workload's pipes are paused until the next window: the kernel then blocks
 * its writes, and a chatty workload slows itself, not the control plane. The tail keeps the last
 * bytes read, as before.
 */
export interface OutputRate {
  readonly bytesPerWindow: number;
  readonly windowMs: number;
}

export const DEFAULT_OUTPUT_RATE: OutputRate = { bytesPerWindow: 1024 * 1024, windowMs: 250 };

export class OutputBudget {
  private used = 0;
  private read = 0;
  private readonly paused = new Set<Readable>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly rate: OutputRate = DEFAULT_OUTPUT_RATE) {}

  /** Counts a chunk read from `stream`; once the window's budget is spent, pauses it until the next. */
  spend(stream: Readable, bytes: number): void {
    this.used += bytes;
    this.read += bytes;
    if (this.used < this.rate.bytesPerWindow) return;
    stream.pause();
    this.paused.add(stream);
    this.timer ??= setTimeout(() => this.refill(), this.rate.windowMs);
  }

  /** Bytes read so far, all streams together. */
  get bytesRead(): number {
    return this.read;
  }

  /** Stops the timer and lets whatever is paused drain (the workload is gone). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.used = 0;
    for (const stream of this.paused) stream.resume();
    this.paused.clear();
  }

  private refill(): void {
    this.timer = undefined;
    this.used = 0;
    for (const stream of this.paused) stream.resume();
    this.paused.clear();
  }
}
