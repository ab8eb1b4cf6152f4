import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../log.js';
import { SUBJECTS, type ControlHandlers, type TransitionMessage, type TransitionPublisher } from './transition.js';

export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  return connect({
    servers: url,
    name,
    // Never give up: a NATS outage must not end the control plane. The client buffers while away.
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
  });
}

/**
 * Publishes transitions. `publish` never throws and never waits: while NATS is away the client
 * buffers, and if even that fails the message is counted as dropped and the lifecycle goes on.
 */
export class NatsTransitionPublisher implements TransitionPublisher {
  private readonly encoder = new TextEncoder();
  dropped = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
  ) {}

  publish(message: TransitionMessage): void {
    try {
      this.nc.publish(SUBJECTS.transition(message.id, message.to), this.encoder.encode(JSON.stringify(message)));
    } catch (error) {
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 1000 === 0) {
        this.log.warn({ err: error, dropped: this.dropped }, 'could not publish a transition; the lifecycle goes on');
      }
    }
  }
}

/** Answers `leasehold.status.<id>`, `leasehold.cancel.<id>` and `leasehold.logs.<id>` requests. */
export class NatsControlServer {
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly handlers: ControlHandlers,
    private readonly log: Logger,
  ) {}

  start(): void {
    const serve = (subject: string, handle: (id: string) => Promise<unknown>) => {
      const prefix = subject.slice(0, -1);
      this.subscriptions.push(
        this.nc.subscribe(subject, {
          callback: (error, msg) => {
            if (error) return;
            const id = msg.subject.slice(prefix.length);
            handle(id).then(
              (reply) => msg.respond(JSON.stringify(reply ?? { error: `no workload ${id}` })),
              (failure: unknown) => {
                this.log.warn({ err: failure, workload: id, subject: msg.subject }, 'control request failed');
                msg.respond(JSON.stringify({ error: String(failure) }));
              },
            );
          },
        }),
      );
    };
    serve(SUBJECTS.status('*'), (id) => this.handlers.status(id));
    serve(SUBJECTS.cancel('*'), (id) => this.handlers.cancel(id));
    serve(SUBJECTS.logs('*'), async (id) => {
      const text = await this.handlers.logs(id);
      return text === null ? null : { id, logs: text };
    });
  }

  stop(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }
}
