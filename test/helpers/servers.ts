import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { startNats, startRedis, type OwnedServer } from '../../src/dev/servers.js';

export interface Servers {
  redis: OwnedServer;
  nats: OwnedServer;
}

/**
 * Starts a real redis-server and nats-server for the current test file and stops them after it.
 * Returns a getter, because the servers exist only once `before` has run.
 */
export function useServers(): () => Servers {
  let servers: Servers | null = null;
  before(async () => {
    const [redis, nats] = await Promise.all([startRedis(), startNats()]);
    servers = { redis, nats };
  });
  after(async () => {
    await Promise.all([servers?.redis.stop(), servers?.nats.stop()]);
  });
  return () => {
    if (!servers) throw new Error('servers are started in before()');
    return servers;
  };
}

export function redisClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2 });
}

let counter = 0;
/** A key prefix of its own for each test, so tests sharing a server never see each other's keys. */
export function uniquePrefix(): string {
  return `t${process.pid}-${++counter}:`;
}

/** A workload id no other test uses: `name` and a short unique suffix, a valid DNS label. */
export function uniqueId(name: string): string {
  return `${name}-${uniquePrefix().replace(/[^a-z0-9]/g, '').slice(-8)}`;
}
