import type { Clock } from '../clock.js';
import type { TransitionMessage, TransitionPublisher } from '../events/transition.js';
import type { Logger } from '../log.js';
import type { ShardGrant } from '../ownership/ownership.js';
import { IN_DOUBT_RETRY_MS, sameGrant } from './held-grants.js';
import type { SnapshotStore } from './ports.js';

interface PendingPublish {
  readonly message: TransitionMessage;
  readonly grant: ShardGrant;
}

/** Whether messages made under a grant may go out now (`owns`), or never will (`hasEnded`). */
export interface PublishGate {
  owns(grant: ShardGrant): boolean;
  hasEnded(grant: ShardGrant): boolean;
}

/**
 * Transitions are published only once their snapshot is in Redis, so that whatever a subscriber
 * has seen survives a crash: a restart never contradicts an event already delivered. And only
 * while the shard is still held under the same epoch: a replica fenced meanwhile (its save was
 * refused, or it was paused past its lease) publishes nothing more.
 *
 * Messages are batched by the durability they wait for: a transition whose save went into a
 * later flush waits for that flush, never for an earlier one that does not carry it (that had a
 * replica, fenced right after, publish `queued` for a workload whose first save was refused,
 * and its successor publish `queued` again). Batches go out in order.
 *
 * Enqueue a transition after its save was handed to the store: `whenDurable()` must already
 * cover it.
 */
export class PublishQueue {
  /** The batch of publishes that the current flush's durability will release, while open. */
  private openBatch: { durable: Promise<void>; items: PendingPublish[] } | null = null;
  /** The chain that publishes batches in order. */
  private publishing: Promise<void> = Promise.resolve();
  /** Publishes held back because their grant is in doubt. */
  private doubtful: PendingPublish[] = [];
  private doubtRetry = false;

  constructor(
    private readonly store: Pick<SnapshotStore, 'whenDurable' | 'announced'>,
    private readonly publisher: TransitionPublisher,
    private readonly gate: PublishGate,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  enqueue(message: TransitionMessage, grant: ShardGrant): void {
    const durable = this.store.whenDurable();
    let batch = this.openBatch;
    if (batch?.durable !== durable) {
      const opened = { durable, items: [] as PendingPublish[] };
      this.openBatch = batch = opened;
      this.publishing = Promise.all([this.publishing, durable])
        .then(() => {
          if (this.openBatch === opened) this.openBatch = null;
          this.flush(opened.items);
        })
        .catch((error: unknown) => this.log.error({ err: error }, 'publishing transitions failed'));
    }
    batch.items.push({ message, grant });
  }

  /** Resolves once everything queued so far has been published, or dropped or held back. */
  settled(): Promise<void> {
    return this.publishing;
  }

  /** Forgets what is held back under a grant that was lost (batches not yet due check for themselves). */
  dropGrant(grant: ShardGrant): void {
    this.doubtful = this.doubtful.filter((pending) => !sameGrant(pending.grant, grant));
  }

  /**
   * Publishes what waits under a grant still held; drops what waits under a grant let go of. A
   * grant can be in doubt for a moment (a stalled event loop let its validity pass before the
   * renewal that extends it was answered): its messages wait, in order, until it is renewed or lost.
   */
  private flush(batch: readonly PendingPublish[]): void {
    const candidates = this.doubtful.length > 0 ? [...this.doubtful, ...batch] : batch;
    this.doubtful = [];
    // A workload's transitions go out in order: once one waits, the later ones wait behind it.
    const waiting = new Set<string>();
    for (const pending of candidates) {
      if (this.gate.hasEnded(pending.grant)) continue;
      if (this.gate.owns(pending.grant) && !waiting.has(pending.message.id)) {
        this.publisher.publish(pending.message);
        // Until now a finished workload stayed among its shard's unfinished, for a next owner to announce.
        if (pending.message.to === 'tornDown') this.store.announced(pending.message.id, pending.grant);
      } else {
        this.doubtful.push(pending);
        waiting.add(pending.message.id);
      }
    }
    if (this.doubtful.length === 0 || this.doubtRetry) return;
    this.doubtRetry = true;
    this.clock.setTimeout(() => {
      this.doubtRetry = false;
      this.publishing = this.publishing.then(() => this.flush([]));
    }, IN_DOUBT_RETRY_MS);
  }
}
