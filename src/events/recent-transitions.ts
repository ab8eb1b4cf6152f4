import type { MsgHdrs } from '@nats-io/transport-node';
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
  return new MessageIdHeader(`${message.id}.${message.seq}.${message.at}`);
}

const HEADER = 'Nats-Msg-Id';

/**
 * Headers holding exactly one `Nats-Msg-Id`, encoded once. nats.js's own headers object keeps a
 * map, canonicalises and validates each key, and encodes through a string on every publish:
 * about 4 µs of the 10 a transition's publish took, five times per workload. Immutable: the
 * setters throw. The id is made of a workload id (no CR or LF: the spec refuses control
 * characters), a number and an ISO time, so it needs no validation here.
 *
 * nats.js calls `encode()` on a message's headers when it publishes; that method is not part
 * of its `MsgHdrs` interface, so a test publishes through this class into a real JetStream
 * stream and checks that the id arrives and a copy is dropped.
 */
class MessageIdHeader implements MsgHdrs {
  readonly hasError = false;
  readonly status = '';
  readonly code = 0;
  readonly description = '';
  private encoded: Uint8Array | null = null;

  constructor(private readonly id: string) {}

  get(k: string): string {
    return this.has(k) ? this.id : '';
  }
  last(k: string): string {
    return this.get(k);
  }
  has(k: string): boolean {
    return k.toLowerCase() === 'nats-msg-id';
  }
  keys(): string[] {
    return [HEADER];
  }
  values(k: string): string[] {
    return this.has(k) ? [this.id] : [];
  }
  set(): void {
    throw new TypeError('transition headers are immutable');
  }
  append(): void {
    throw new TypeError('transition headers are immutable');
  }
  delete(): void {
    throw new TypeError('transition headers are immutable');
  }
  *[Symbol.iterator](): Iterator<[string, string[]]> {
    yield [HEADER, [this.id]];
  }
  toString(): string {
    return `NATS/1.0\r\n${HEADER}: ${this.id}\r\n\r\n`;
  }
  encode(): Uint8Array {
    return (this.encoded ??= Buffer.from(this.toString()));
  }
}
