const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Everything that can end an exec before its command does, as one signal with one reason: the
 * caller's abort ('cancelled'), its timeout ('timeout'), and the runtime (the workload torn down).
 * The first reason wins; the exec reports it instead of an exit code.
 */
export class ExecEnding {
  private readonly controller = new AbortController();
  private why: string | null = null;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly onAbort = () => this.end('cancelled');

  constructor(
    timeoutMs: number | undefined,
    private readonly caller: AbortSignal,
  ) {
    caller.addEventListener('abort', this.onAbort, { once: true });
    if (caller.aborted) this.end('cancelled');
    // Node fires a timer of more than 2^31-1 ms at once; such a timeout is as good as none.
    this.timer = timeoutMs === undefined || timeoutMs > MAX_TIMER_MS ? undefined : setTimeout(() => this.end('timeout'), timeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get reason(): string | null {
    return this.why;
  }

  end(reason: string): void {
    if (this.why !== null) return;
    this.why = reason;
    this.controller.abort();
  }

  /** Resolves when the exec must end. */
  ended(): Promise<void> {
    const signal = this.controller.signal;
    return new Promise((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.caller.removeEventListener('abort', this.onAbort);
  }
}
