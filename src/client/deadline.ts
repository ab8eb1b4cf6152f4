import { ClientTimeoutError } from './errors.js';

/** How long a call may take, and the caller's own way to stop it. */
export interface CallOptions {
  /** Give up after this many milliseconds (a {@link ClientTimeoutError}); none by default for `wait`. */
  readonly timeoutMs?: number;
  /** Aborting it rejects the call with the signal's reason, as `fetch` does. */
  readonly signal?: AbortSignal;
}

/**
 * One call's end: its timeout or its caller's abort, whichever comes first. `stopped` rejects then
 * (with a {@link ClientTimeoutError} for the timeout, the signal's reason for an abort), so a call
 * races its work against it; `dispose()` clears the timer.
 */
export class CallDeadline {
  readonly stopped: Promise<never>;
  private timer: NodeJS.Timeout | undefined;
  private readonly cleanups: (() => void)[] = [];
  private done = false;

  constructor(options: CallOptions, describeTimeout: () => Promise<string>) {
    const { timeoutMs, signal } = options;
    this.stopped = new Promise<never>((_, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      if (signal) {
        const onAbort = () => reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
        this.cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        this.timer = setTimeout(() => {
          void describeTimeout().then(
            (text) => reject(new ClientTimeoutError(text)),
            () => reject(new ClientTimeoutError(`gave up after ${timeoutMs} ms`)),
          );
        }, timeoutMs);
      }
    });
    this.stopped.catch(() => (this.done = true));
  }

  get isOver(): boolean {
    return this.done;
  }

  /**
   * Waits `ms`, or less when `wake` settles (then true) or the call ends first. The timer is
   * cleared either way: a woken wait leaves nothing behind.
   */
  async pause(ms: number, wake: Promise<unknown> | null = null): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const slept = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const ended = this.stopped.then(
      () => false,
      () => false,
    );
    try {
      return await Promise.race([slept, ended, ...(wake ? [wake.then(() => true)] : [])]);
    } finally {
      clearTimeout(timer);
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const cleanup of this.cleanups) cleanup();
  }
}
