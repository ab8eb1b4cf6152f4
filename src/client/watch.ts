import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { LifecycleState } from '../../machines/index.js';
import { parseTransition } from '../events/messages.js';
import type { Subjects, TransitionMessage } from '../events/transition.js';
import { LeaseholdError } from '../errors.js';
import type { ControlRequests } from './control-requests.js';
import { SeenTransitions, TransitionFeed } from './transition-feed.js';

/** Which transitions to watch: one workload's, every workload's entering one state, or both. */
export interface WatchFilter {
  readonly id?: string;
  readonly state?: LifecycleState;
}

export interface WatchOptions {
  /**
   * `start`: first what the history keeps (one workload's whole life, for a workload watch), then
   * live. `now`: from now on. Default: `start` for one workload, `now` otherwise. Without history,
   * always from now.
   */
  readonly from?: 'start' | 'now';
  /**
   * `auto` (default): resume from JetStream when the installation keeps history, live core NATS
   * otherwise. `required`: fail (code `NO_HISTORY`) rather than watch without it. `off`: live only.
   */
  readonly history?: 'auto' | 'required' | 'off';
  /** Aborting it ends the iteration (without an error). */
  readonly signal?: AbortSignal;
}

/** How a watch is fed, once it has started. */
export interface WatchStarted {
  /** True: from the JetStream history, resumed where it stopped after a lost connection. */
  readonly history: boolean;
}

/** Delay before a consumer that failed is made again from where it stopped. */
const RESUME_DELAY_MS = 250;

/**
 * An async iterator of transitions, each delivered once, in order per workload. A watch of one
 * workload ends after its `tornDown`.
 *
 * With history (the control plane started with `--history`), it reads the JetStream stream through
 * an ordered consumer and remembers the stream sequence of what it delivered: a consumer lost with
 * the connection (a NATS restart, a partition) is made again from the next sequence, so an outage
 * costs a delay, never a transition. Without history it is a core NATS subscription: what is
 * published while the connection is down is not seen (after a reconnect, a workload watch asks
 * for the status, and ends if the workload ended meanwhile, rather than wait for ever).
 */
export class TransitionWatch implements AsyncIterableIterator<TransitionMessage>, AsyncDisposable {
  /** Resolves once the watch listens (and says how); rejects when it could not start. */
  readonly ready: Promise<WatchStarted>;
  private readonly feed = new TransitionFeed();
  private readonly seen = new SeenTransitions();
  private readonly subject: string;
  private closed = false;
  private stopSource: () => void = () => undefined;
  private readonly onAbort = () => void this.close();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly control: ControlRequests,
    private readonly filter: WatchFilter,
    private readonly options: WatchOptions = {},
    /** Told once, when the watch is closed or complete. */
    private readonly onClose: () => void = () => undefined,
  ) {
    this.subject = filter.state ? subjects.transition(filter.id ?? '*', filter.state) : subjects.watch(filter.id);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.ready = this.start();
    this.ready.catch((error: unknown) => this.feed.end(error));
    if (options.signal?.aborted) void this.close();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<TransitionMessage>> {
    return this.feed.next();
  }

  /** Called by `break` in a `for await`: stops the watch. */
  async return(): Promise<IteratorResult<TransitionMessage>> {
    await this.close();
    return { value: undefined, done: true };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.stopSource();
    this.feed.end();
    await this.ready.catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async start(): Promise<WatchStarted> {
    const mode = this.options.history ?? 'auto';
    const stream = mode === 'off' ? null : await this.historyLastSeq();
    if (stream === null && mode === 'required') {
      throw new LeaseholdError('NO_HISTORY', `no transition history (${this.subjects.historyStream}) on this NATS: start the control plane with --history <seconds> (and nats-server -js)`);
    }
    if (this.closed) return { history: stream !== null };
    if (stream !== null) {
      const from = this.options.from ?? (this.filter.id ? 'start' : 'now');
      void this.followHistory(from === 'start' ? 1 : stream + 1);
      return { history: true };
    }
    await this.followLive();
    return { history: false };
  }

  /** The last sequence in the history stream; null when there is no history to read. */
  private async historyLastSeq(): Promise<number | null> {
    try {
      const jsm = await jetstreamManager(this.nc, { checkAPI: false });
      return (await jsm.streams.info(this.subjects.historyStream)).state.last_seq;
    } catch {
      return null;
    }
  }

  private async followHistory(firstSeq: number): Promise<void> {
    let nextSeq = firstSeq;
    const js = jetstream(this.nc);
    while (!this.closed && !this.nc.isClosed()) {
      let messages: ConsumerMessages | null = null;
      try {
        const consumer = await js.consumers.get(this.subjects.historyStream, {
          filter_subjects: this.subject,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: nextSeq,
        });
        messages = await consumer.consume({ max_messages: 256 });
        this.stopSource = () => void messages?.close();
        if (this.closed) break;
        for await (const message of messages) {
          nextSeq = message.seq + 1;
          const transition = parseTransition(message.data, message.subject, this.subjects);
          if (transition && this.deliver(transition)) return void (await messages.close());
          await this.feed.room();
          if (this.closed) break;
        }
      } catch {
        // The consumer or the connection failed; made again below, from the next sequence.
      } finally {
        await messages?.close().catch(() => undefined);
      }
      if (!this.closed) await new Promise((resolve) => setTimeout(resolve, RESUME_DELAY_MS));
    }
    this.feed.end(); // the connection was closed under the watch
  }

  private async followLive(): Promise<void> {
    const subscription: Subscription = this.nc.subscribe(this.subject, {
      callback: (error, msg) => {
        if (error) return this.feed.end(error);
        const transition = parseTransition(msg.data, msg.subject, this.subjects);
        if (transition && this.deliver(transition)) subscription.unsubscribe();
      },
    });
    const statuses = this.nc.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
    this.stopSource = () => {
      subscription.unsubscribe();
      statuses.stop?.();
    };
    void subscription.closed.then(() => this.feed.end()); // unsubscribed, or the connection closed
    await this.nc.flush();
    if (!this.filter.id) return;
    const id = this.filter.id;
    await this.endIfEnded(id);
    // Transitions published while the connection was down are lost to core NATS: a workload that
    // ended meanwhile would be waited for for ever.
    void (async () => {
      for await (const status of statuses) if (status.type === 'reconnect') await this.endIfEnded(id);
    })();
  }

  private async endIfEnded(id: string): Promise<void> {
    const status = await this.control.status(id).catch(() => null);
    if (status?.state === 'tornDown') await this.close();
  }

  /** Hands a transition on once; true when the watch is complete (its workload's `tornDown`). */
  private deliver(transition: TransitionMessage): boolean {
    if (this.closed || !this.seen.isNew(transition)) return false;
    this.feed.push(transition);
    if (this.filter.id !== undefined && transition.to === 'tornDown') {
      void this.close(); // what was pushed is still read: the feed ends after it
      return true;
    }
    return false;
  }
}
