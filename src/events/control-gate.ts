import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.js';

/** Where nats.js (and every other NATS client by default) takes replies: `_INBOX.<nuid>…`. */
const INBOX_PREFIX = '_INBOX.';
/** What a request is told when too many of its kind are being answered already. */
export const BUSY_REPLY = JSON.stringify({ error: 'busy, try again' });

export interface ControlGateLimits {
  /** Requests of one kind (status, cancel, logs) answered at once; past it, `busy` at once. */
  readonly maxInFlight: number;
}

export const DEFAULT_CONTROL_GATE_LIMITS: ControlGateLimits = { maxInFlight: 64 };

/**
 * Decides which control requests the control plane answers, and how many at once.
 *
 * The reply subject is chosen by whoever asks, and the control plane publishes its answer there
 * with its own permissions: a watcher that asked for `leasehold.status.x` with the reply subject
 * `leasehold.cancel.y` had the control plane cancel `y`, and with
 * `$JS.API.STREAM.PURGE.LEASEHOLD_TRANSITIONS` purge the history. So an answer only ever goes to
 * an inbox; anything else (no reply subject included) is ignored, counted, and logged once.
 *
 * Each answer is built in memory and queued on the socket, and nats.js does not say how much is
 * queued. A flood of `logs` requests (64 KiB each) had 1.3 GB waiting to be written. So a request
 * holds its slot until a flush (a PING the server answers after reading everything before it)
 * says its answer left the process: what waits is bounded by `maxInFlight` answers per kind.
 */
export class ControlRequestGate {
  private readonly inFlight = new Map<string, number>();
  /** Requests not answered because of their reply subject. */
  ignored = 0;
  /** Requests answered `busy`. */
  refusedBusy = 0;

  constructor(
    private readonly log: Logger,
    private readonly limits: ControlGateLimits = DEFAULT_CONTROL_GATE_LIMITS,
  ) {}

  /**
   * True when `msg` is to be answered now; the caller then hands its answer to `settle`. False
   * when it was ignored, or answered `busy` here.
   */
  admit(msg: Msg, kind: string): boolean {
    if (!msg.reply?.startsWith(INBOX_PREFIX)) {
      this.ignored++;
      if (this.ignored === 1 || this.ignored % 10_000 === 0) {
        // The subject is the asker's, so it is cut; it never holds a secret of ours.
        this.log.warn(
          { subject: msg.subject.slice(0, 200), reply: (msg.reply ?? '').slice(0, 200), ignored: this.ignored },
          `ignored a control request whose reply subject is not an ${INBOX_PREFIX} inbox (answers go to inboxes only)`,
        );
      }
      return false;
    }
    const busy = this.inFlight.get(kind) ?? 0;
    if (busy >= this.limits.maxInFlight) {
      this.refusedBusy++;
      if (this.refusedBusy === 1 || this.refusedBusy % 10_000 === 0) {
        this.log.warn({ kind, inFlight: busy, refused: this.refusedBusy }, 'too many control requests at once; answering busy');
      }
      msg.respond(BUSY_REPLY);
      return false;
    }
    this.inFlight.set(kind, busy + 1);
    return true;
  }

  /** Frees the slot `admit` took once `answered` has settled and the answer has left for the server. */
  settle(nc: NatsConnection, kind: string, answered: Promise<unknown>): void {
    void answered
      .then(() => nc.flush())
      .catch(() => undefined) // a closed connection: nothing more will be written to it
      .finally(() => this.inFlight.set(kind, (this.inFlight.get(kind) ?? 1) - 1));
  }
}
