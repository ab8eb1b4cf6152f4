import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RefusalKind } from '../spec/index.js';

export interface RefusalLogLimits {
  /** Refusals logged one by one in each interval; the rest are counted. */
  readonly perInterval: number;
  readonly intervalMs: number;
  /** A reason is cut to this many bytes of UTF-8 in the log (the dead-letter list keeps as much). */
  readonly maxReasonBytes: number;
}

export const DEFAULT_REFUSAL_LOG_LIMITS: RefusalLogLimits = { perInterval: 20, intervalMs: 10_000, maxReasonBytes: 1_024 };

/**
 * Logs refused queue entries without letting a submitter fill the log: 15,000 refused entries
 * once wrote 301 MB of it, one line each with the whole reason. The first `perInterval` of each
 * interval are logged with their reason cut; past that they are counted by kind, and one line at
 * the end of the interval says how many of each there were. Every refusal is still counted in
 * `leasehold_dead_letters_total` and kept in the dead-letter list.
 */
export class RefusalLog {
  private windowStart = Number.NEGATIVE_INFINITY;
  private loggedInWindow = 0;
  private readonly unlogged = new Map<RefusalKind, number>();
  private timer: unknown = null;

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly limits: RefusalLogLimits = DEFAULT_REFUSAL_LOG_LIMITS,
  ) {}

  note(refusal: { readonly kind: RefusalKind; readonly reason: string }): void {
    const now = this.clock.now();
    if (now - this.windowStart >= this.limits.intervalMs) {
      this.summarize();
      this.windowStart = now;
      this.loggedInWindow = 0;
    }
    if (this.loggedInWindow < this.limits.perInterval) {
      this.loggedInWindow++;
      // Not the entry itself: its env may hold the submitter's secrets. The dead-letter list has it.
      this.log.warn({ kind: refusal.kind, reason: cut(refusal.reason, this.limits.maxReasonBytes) }, 'queue entry refused; see the dead-letter list');
      return;
    }
    this.unlogged.set(refusal.kind, (this.unlogged.get(refusal.kind) ?? 0) + 1);
    // The summary is due at the end of this interval even if nothing is refused after this one.
    this.timer ??= unref(this.clock.setTimeout(() => this.summarize(), this.windowStart + this.limits.intervalMs - now));
  }

  /** Logs the count of what went unlogged, if anything did. */
  summarize(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    if (this.unlogged.size === 0) return;
    const byKind = Object.fromEntries(this.unlogged);
    const total = [...this.unlogged.values()].reduce((sum, n) => sum + n, 0);
    this.unlogged.clear();
    this.log.warn(
      { unlogged: total, byKind },
      `${total} more queue entries refused within ${Math.round(this.limits.intervalMs / 1000)} s, not logged one by one; see the dead-letter list and leasehold_dead_letters_total`,
    );
  }
}

/** The longest prefix of `text` within `maxBytes` of UTF-8, never splitting a character, marked when cut. */
export function cut(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const marker = ' …(cut)';
  const head = Buffer.from(text).subarray(0, maxBytes - Buffer.byteLength(marker)).toString('utf8');
  // A character split by the byte limit decodes as U+FFFD: drop it.
  return `${head.replace(/\uFFFD$/, '')}${marker}`;
}

/** A summary timer must not keep a stopping process alive. */
function unref(handle: unknown): unknown {
  (handle as { unref?: () => void } | null)?.unref?.();
  return handle;
}
