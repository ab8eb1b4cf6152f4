import type { NatsConnection } from '@nats-io/transport-node';
import { redactUrl } from '../redact.js';
import type { Logger } from '../log.js';
import { type NatsTarget } from './nats-auth.js';
import { NatsConnectError, dialNats } from './nats-connect.js';

/** Something to do on each new connection: subscribe, attach a publisher, declare a stream. */
export type OnConnect = (nc: NatsConnection) => unknown;

/**
 * The control plane's link to NATS. The lifecycle does not need NATS (transitions wait in the
 * publisher's outbox), so a NATS that is down at start must not stop the control plane; but it
 * must not be silent either. So: one attempt at start; refused credentials or a TLS failure end
 * the start with one line (retrying will not fix them, and an operator is watching); an
 * unreachable server is a warning naming it, and the link keeps trying in the background, with
 * `/readyz` saying `nats: false` until it is up. A connection nats.js gives up on (it stops after
 * two authorization failures in a row) is dialled again the same way, so nothing is left dead.
 */
export class NatsLink {
  private nc: NatsConnection | null = null;
  private up = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly hooks: OnConnect[] = [];

  constructor(
    private readonly target: NatsTarget,
    private readonly name: string,
    private readonly log: Logger,
    private readonly onStatus: (up: boolean) => void = () => undefined,
    private readonly retryMs = 2_000,
  ) {}

  /** Runs `hook` on the current connection (if any) and on every later one. */
  async onConnect(hook: OnConnect): Promise<void> {
    this.hooks.push(hook);
    if (this.nc && !this.nc.isClosed()) await this.runHook(hook, this.nc);
  }

  /** Resolves once connected or once the outage is reported; rejects on refused credentials or TLS. */
  async start(): Promise<void> {
    try {
      await this.attach(await this.dial());
    } catch (error) {
      if (!(error instanceof NatsConnectError) || error.code !== 'NATS_UNREACHABLE') throw error;
      this.log.warn(`${error.message}; the lifecycle goes on without it (transitions wait in the outbox) and the control plane keeps trying`);
      this.scheduleRetry(1);
    }
  }

  isUp(): boolean {
    return this.up && this.nc !== null && !this.nc.isClosed();
  }

  /** The server's word on whether it checks who connects; null until connected. */
  authRequired(): boolean | null {
    return this.nc?.info ? this.nc.info.auth_required === true : null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const nc = this.nc;
    this.nc = null;
    if (nc) await nc.drain().catch(() => nc.close());
  }

  private dial(): Promise<NatsConnection> {
    return dialNats(this.target, { name: this.name, reconnect: true });
  }

  private scheduleRetry(attempt: number): void {
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.dial().then(
        async (nc) => {
          if (this.stopped) return void (await nc.close());
          this.log.info({ nats: redactUrl(this.target.url) }, 'NATS connected');
          await this.attach(nc);
        },
        (error: unknown) => {
          // The first few attempts and one in thirty are logged: an outage is one story, not a
          // line every two seconds. A refused credential is an error, an outage a warning.
          if (attempt <= 3 || attempt % 30 === 0) {
            const message = error instanceof Error ? error.message : String(error);
            if (error instanceof NatsConnectError && error.code !== 'NATS_UNREACHABLE') this.log.error({ attempt }, `${message}; still trying`);
            else this.log.warn({ attempt }, `${message}; still trying`);
          }
          this.scheduleRetry(attempt + 1);
        },
      );
    }, this.retryMs);
  }

  private async attach(nc: NatsConnection): Promise<void> {
    this.nc = nc;
    void this.follow(nc);
    // Hooks first, in the order they were given (the history stream before the publisher's
    // outbox is flushed into it), then "up".
    for (const hook of this.hooks) await this.runHook(hook, nc);
    this.setUp(!nc.isClosed());
  }

  private async runHook(hook: OnConnect, nc: NatsConnection): Promise<void> {
    try {
      await hook(nc);
    } catch (error) {
      this.log.warn({ err: error }, 'a NATS set-up step failed; the control plane goes on without it');
    }
  }

  private async follow(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.log.warn({ nats: redactUrl(this.target.url) }, 'NATS disconnected');
        this.setUp(false);
      } else if (status.type === 'reconnect') {
        this.log.info({ nats: redactUrl(this.target.url) }, 'NATS reconnected');
        this.setUp(true);
      }
    }
    // The iterator ends when the connection is closed: by us (stop), or by nats.js giving up.
    if (this.stopped || this.nc !== nc) return;
    const reason = await nc.closed();
    this.nc = null;
    this.setUp(false);
    this.log.error({ nats: redactUrl(this.target.url), reason: reason?.message }, 'NATS closed the connection for good; dialling again');
    this.scheduleRetry(1);
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    this.onStatus(up);
  }
}
