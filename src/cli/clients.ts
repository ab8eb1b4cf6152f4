import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { TransitionMessage } from '../events/transition.js';
import { formatTransition } from './format.js';
import { Redis } from 'ioredis';
import { CliError } from './cli-error.js';

/** Short-lived connections for one CLI command; failures say which server and how to fix it. */
export async function openNats(url: string): Promise<NatsConnection> {
  try {
    return await connect({ servers: url, name: 'leasehold-cli', reconnect: false, timeout: 5_000 });
  } catch (error) {
    throw new CliError(`cannot reach NATS at ${url} (${String(error)}); is the control plane running? Set --nats or NATS_URL`);
  }
}

export async function openRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return redis;
  } catch (error) {
    redis.disconnect();
    throw new CliError(`cannot reach Redis at ${url} (${String(error)}); set --redis or REDIS_URL`);
  }
}

export async function request<T>(nc: NatsConnection, subject: string, what: string): Promise<T> {
  try {
    const reply = await nc.request(subject, '', { timeout: 5_000 });
    return reply.json<T>();
  } catch (error) {
    throw new CliError(`no control plane answered ${what} (${String(error)}); is \`leasehold start\` running against this NATS?`);
  }
}

/** One request to the control plane on its own short-lived connection. */
export async function askControlPlane<T>(natsUrl: string, subject: string, what: string): Promise<T> {
  const nc = await openNats(natsUrl);
  try {
    return await request<T>(nc, subject, what);
  } finally {
    await nc.close();
  }
}

/**
 * Prints each transition once, as text or JSON lines: a transition replayed from history and then
 * seen live (or seen twice) is printed the first time only, by its per-workload `seq`.
 */
export class TransitionPrinter {
  private readonly printed = new Map<string, number>();

  constructor(private readonly output: 'text' | 'json') {}

  /** False when it was printed already. */
  print(t: TransitionMessage): boolean {
    if ((this.printed.get(t.id) ?? 0) >= t.seq) return false;
    this.printed.set(t.id, t.seq);
    process.stdout.write(this.output === 'json' ? `${JSON.stringify(t)}\n` : `${formatTransition(t)}\n`);
    return true;
  }

  /**
   * Prints transitions as they arrive; with `untilTornDown`, stops at the first `tornDown` and
   * returns it (for `submit --wait` and `watch <id>`).
   */
  async follow(subscription: Subscription, untilTornDown: boolean): Promise<TransitionMessage | null> {
    for await (const msg of subscription) {
      const t = msg.json<TransitionMessage>();
      if (!this.print(t)) continue;
      if (untilTornDown && t.to === 'tornDown') return t;
    }
    return null;
  }
}
