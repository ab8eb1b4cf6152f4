import { connect, type NatsConnection } from '@nats-io/transport-node';
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
