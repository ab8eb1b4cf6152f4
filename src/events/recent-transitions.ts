import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { TransitionMessage } from './transition.js';

export interface RecentLimits {
  /** How far back, from the last one sent, transitions are kept for resending. */
  readonly windowMs: number;
  /** And at most this many, whatever their age. */
  readonly maxCount: number;
}

export const DEFAULT_RECENT_LIMITS: RecentLimits = { windowMs: 10_000, maxCount: 10_000 };

/**
 * The transitions sent in the last few seconds before an outage, to send again once NATS is back.
 *
 * nats.js learns that the server is gone some time after it is: what it writes in between (into
 * a socket the server no longer reads, during a restart's shutdown for one) is lost without an
 * error, and the publisher, still "connected", had no reason to hold it. A restart in the middle
 * of a burst lost 1 in 20 transitions that way. So what was sent recently is kept, and sent again
 * on reconnect before what waited in the outbox. Subscribers see some transitions twice, which
 * ours drop by `seq` (TransitionPrinter, InspectorModel); JetStream drops the copies itself, by
 * the `Nats-Msg-Id` header (its duplicate window is two minutes by default).
 *
 * Nothing is trimmed while disconnected (nothing is sent then), so the window is measured back
 * from the last transition sent before the outage, however long the outage lasts.
 */
export class RecentTransitions {
  private entries: { at: number; message: TransitionMessage }[] = [];
  private head = 0;

  constructor(
    private readonly limits: RecentLimits = DEFAULT_RECENT_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  add(message: TransitionMessage): void {
    const at = this.now();
    this.entries.push({ at, message });
    while (this.head < this.entries.length && (this.entries.length - this.head > this.limits.maxCount || at - this.entries[this.head]!.at > this.limits.windowMs)) {
      this.head++;
    }
    // Dropped entries are cut off in one go now and then, not one shift() per transition.
    if (this.head > 1_024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Everything kept, oldest first; the buffer is emptied (what is sent again is added again). */
  takeAll(): TransitionMessage[] {
    const taken = this.entries.slice(this.head).map((entry) => entry.message);
    this.entries = [];
    this.head = 0;
    return taken;
  }
}

/**
 * `Nats-Msg-Id` for one transition: the same for a copy sent again, different for any other.
 * `seq` starts again at 1 when an id is submitted anew, so the time is part of it.
 */
export function transitionHeaders(message: TransitionMessage): MsgHdrs {
  const h = headers();
  h.set('Nats-Msg-Id', `${message.id}.${message.seq}.${message.at}`);
  return h;
}
