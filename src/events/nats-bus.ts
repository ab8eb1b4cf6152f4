import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../log.js';
import { ControlRequestGate } from './control-gate.js';
import type { LogWindows } from './log-windows.js';
import { parseLogsRequest } from './messages.js';
import { RecentTransitions, transitionHeaders } from './recent-transitions.js';
import { CONTROL_QUEUE_GROUP, SUBJECTS, type ControlHandlers, type HeartbeatReply, type Subjects, type TransitionMessage, type TransitionPublisher } from './transition.js';

/**
 * Follows a connection's status and reports each change to `onChange`; `isUp()` answers at any
 * time. One place for what "connected" means, for the control plane and `leasehold inspect`.
 */
export function trackConnection(nc: NatsConnection, log: Logger, onChange: (connected: boolean) => void = () => undefined) {
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        connected = false;
        log.warn('NATS disconnected');
        onChange(false);
      } else if (status.type === 'reconnect') {
        connected = true;
        log.info('NATS reconnected');
        onChange(true);
      }
    }
  })();
  return { isUp: () => connected && !nc.isClosed() };
}

/**
 * Publishes transitions. `publish` never throws and never waits. Core NATS is at-most-once and
 * nats.js drops what is published while it reconnects, so while the connection is down
 * transitions wait in a bounded outbox and go out, in order, once it is back. Past the bound the
 * oldest are dropped and counted; `leasehold.status.<id>` still answers for any workload. What
 * was sent in the seconds before an outage is sent again after it (see RecentTransitions).
 */
export class NatsTransitionPublisher implements TransitionPublisher {
  private outbox: TransitionMessage[] = [];
  private connected = false;
  private nc: NatsConnection | null = null;
  dropped = 0;

  constructor(
    private readonly log: Logger,
    /** Whose subjects: this installation's. */
    private readonly subjects: Subjects = SUBJECTS,
    private readonly outboxLimit = 100_000,
    private readonly recent = new RecentTransitions(),
  ) {}

  /** Publishes on this connection from now on (the first, or a new one after the old was closed). */
  attach(nc: NatsConnection): void {
    this.nc = nc;
    this.setConnected(!nc.isClosed());
  }

  publish(message: TransitionMessage): void {
    if (!this.connected || !this.nc) {
      this.outbox.push(message);
      if (this.outbox.length > this.outboxLimit) {
        this.outbox.shift();
        this.drop(new Error('outbox full'));
      }
      return;
    }
    try {
      // Bytes, not a string: nats.js encodes strings with a TextEncoder, slower than Buffer.from for short ones.
      this.nc.publish(this.subjects.transition(message.id, message.to), Buffer.from(JSON.stringify(message)), { headers: transitionHeaders(message) });
      this.recent.add(message);
    } catch (error) {
      this.drop(error);
    }
  }

  /** Follows the connection's status; on reconnect, sends what waited. */
  setConnected(connected: boolean): void {
    const reconnected = connected && !this.connected;
    this.connected = connected;
    if (!connected || !this.nc) return;
    // What was sent just before the outage may have died with the socket: again, first.
    const resent = reconnected ? this.recent.takeAll() : [];
    if (resent.length + this.outbox.length === 0) return;
    const waiting = [...resent, ...this.outbox];
    this.log.info({ count: this.outbox.length, resent: resent.length }, 'publishing transitions held during the NATS outage');
    this.outbox = [];
    for (const message of waiting) this.publish(message);
  }

  private drop(error: unknown): void {
    this.dropped++;
    if (this.dropped === 1 || this.dropped % 1000 === 0) {
      this.log.warn({ err: error, dropped: this.dropped }, 'could not publish a transition; the lifecycle goes on');
    }
  }
}

/**
 * Answers `leasehold.status.<id>`, `leasehold.cancel.<id>`, `leasehold.logs.<id>` and
 * `leasehold.heartbeat.<id>` requests.
 * Who may ask is the NATS server's to decide (see docs: subject permissions); whoever reaches
 * this handler is answered, on an inbox only and a bounded number at once (ControlRequestGate).
 *
 * With several replicas, the control subjects are served in one queue group, so each request
 * reaches exactly one replica (which forwards cancel and logs to the workload's owner); each
 * replica also serves the requests its peers forward to it, on subjects named after it.
 */
export class NatsControlServer {
  private subscriptions: Subscription[] = [];
  private readonly gate: ControlRequestGate;

  constructor(
    private readonly handlers: ControlHandlers,
    private readonly log: Logger,
    private readonly replicaId: string | null = null,
    /** A peer says it recorded workloads into some shards' inboxes (the raw message). */
    private readonly onInboxNudge: (data: Uint8Array) => void = () => undefined,
    /**
     * This installation's subjects. The peer subjects are in them too: two installations on one
     * NATS whose replicas share an id (`leasehold-0` on Kubernetes) must not answer each other.
     */
    private readonly subjects: Subjects = SUBJECTS,
    /** Answers logs requests that send `{"from": N}` with a window at byte offsets; null: the tail only. */
    private readonly logWindows: LogWindows | null = null,
  ) {
    this.gate = new ControlRequestGate(log);
  }

  /** Serves on `nc`; called again with a new connection, it serves there instead. */
  start(nc: NatsConnection): void {
    this.stop();
    const serve = (subject: string, handle: (id: string, data: Uint8Array) => Promise<unknown>, queue: string | undefined = CONTROL_QUEUE_GROUP) => {
      const prefix = subject.slice(0, -1);
      this.subscriptions.push(
        nc.subscribe(subject, {
          ...(queue ? { queue } : {}),
          callback: (error, msg) => {
            if (error || !this.gate.admit(msg, prefix)) return;
            const id = msg.subject.slice(prefix.length);
            this.gate.settle(nc, prefix, handle(id, msg.data).then(
              (reply) => msg.respond(JSON.stringify(reply ?? { error: `no workload ${id}` })),
              (failure: unknown) => {
                this.log.warn({ err: failure, workload: id, subject: msg.subject }, 'control request failed');
                msg.respond(JSON.stringify({ error: String(failure) }));
              },
            ));
          },
        }),
      );
    };
    serve(this.subjects.status('*'), (id) => this.handlers.status(id));
    serve(this.subjects.cancel('*'), (id) => this.handlers.cancel(id));
    serve(this.subjects.logs('*'), (id, data) => this.answerLogs(id, data, false));
    serve(this.subjects.heartbeat('*'), (id) => this.answerHeartbeat(id));
    if (this.replicaId === null) return;
    serve(this.subjects.replica(this.replicaId, 'cancel', '*'), (id) => this.handlers.cancel(id, { forwarded: true }), undefined);
    serve(
      this.subjects.replica(this.replicaId, 'logs', '*'),
      (id, data) => this.answerLogs(id, data, true),
      undefined,
    );
    this.subscriptions.push(
      nc.subscribe(this.subjects.inboxNudge, {
        // Read by the drainer, with bounds: not ours to trust, and the inbox is polled anyway.
        callback: (error, msg) => {
          if (!error) this.onInboxNudge(msg.data);
        },
      }),
    );
  }

  /**
   * A plain request (empty body) gets the tail, `{id, logs}`, as every version answered it; one
   * with `{"from": N}` gets the output from byte N on with its offsets, `{id, logs, start, end}`,
   * where the runtime keeps them, and the plain answer where it does not.
   */
  private async answerLogs(id: string, data: Uint8Array, forwarded: boolean): Promise<unknown> {
    const from = parseLogsRequest(data);
    if (from !== null && this.logWindows) {
      const window = await this.logWindows.from(id, from, { forwarded });
      if (window) return { id, logs: window.text, start: window.start, end: window.end };
    }
    const text = await this.handlers.logs(id, { forwarded });
    return text === null ? null : { id, logs: text };
  }

  /** A heartbeat renews the lease, or says why not: a holder that keeps heartbeating a gone session should learn it. */
  private async answerHeartbeat(id: string): Promise<HeartbeatReply> {
    if (await this.handlers.heartbeat(id)) return { ok: true };
    const status = await this.handlers.status(id);
    if (!status) return { ok: false, error: `no workload ${id}` };
    return { ok: false, state: status.state, error: `${id} is ${status.state}, not running: only a running workload's lease is renewed` };
  }

  stop(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.subscriptions = [];
  }
}
