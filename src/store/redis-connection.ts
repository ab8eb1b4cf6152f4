import { Redis } from 'ioredis';
import { describeError } from '../../machines/index.js';
import { LeaseholdError } from '../errors.js';
import type { Logger } from '../log.js';
import { redactUrl, redactUrlsIn } from '../redact.js';
import { checkRedisUrl } from '../server-urls.js';

/** Replies no retry will change: the server refused who we are, or what we may do. */
const REFUSED = /^(WRONGPASS|NOAUTH|NOPERM)\b/;

export interface RedisConnections {
  /** Commands, auto-pipelined: the many small writes of one tick travel in one round trip. */
  readonly redis: Redis;
  /** A connection of its own for the intake's blocking reads. */
  readonly blocking: Redis;
}

/**
 * Opens the control plane's two Redis connections, or fails with ONE line that names the server
 * (its URL redacted) and says what to fix. ioredis reports every retry as an `error` event and
 * puts the AUTH arguments, the password, on the error; none of that reaches a log at start. Once
 * connected, errors are logged once per distinct message until the connection is ready again,
 * so an outage is a line, not a line per retry.
 */
export async function connectRedis(url: string, name: string, log: Logger): Promise<RedisConnections> {
  const options = { maxRetriesPerRequest: null, lazyConnect: true, connectionName: name };
  checkRedisUrl(url); // ioredis would throw a TypeError holding the URL, password and all
  const redis = new Redis(url, { ...options, enableAutoPipelining: true });
  const blocking = new Redis(url, options);
  let firstError: unknown = null;
  const remember = (error: unknown) => (firstError ??= error);
  redis.on('error', remember);
  blocking.on('error', remember);
  // Both settle before we judge, so a second failure is not left as an unhandled rejection.
  const connected = await Promise.allSettled([redis.connect(), blocking.connect()]);
  const failed = connected.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) {
    redis.disconnect();
    blocking.disconnect();
    throw startError(url, firstError ?? failed.reason);
  }
  redis.off('error', remember);
  blocking.off('error', remember);
  logErrorsOnce(redis, log, 'redis connection error');
  logErrorsOnce(blocking, log, 'redis (intake) connection error');
  return { redis, blocking };
}

function startError(url: string, cause: unknown): LeaseholdError {
  const server = redactUrl(url);
  // The reply text only: ioredis's "Connection is closed." hides why, and the error's command
  // arguments hold the password.
  const reason = redactUrlsIn(describeError(cause).split('\n')[0]!);
  if (REFUSED.test(reason)) {
    return new LeaseholdError('REDIS_AUTH', `Redis at ${server} refused the credentials (${reason}); check the user and password in --redis / REDIS_URL`);
  }
  return new LeaseholdError('REDIS_UNREACHABLE', `cannot reach Redis at ${server} (${reason}); start it or set --redis / REDIS_URL`);
}

function logErrorsOnce(connection: Redis, log: Logger, what: string): void {
  let last: string | null = null;
  connection.on('error', (error: unknown) => {
    const message = redactUrlsIn(describeError(error));
    if (message === last) return;
    last = message;
    log.warn({ error: message }, what);
  });
  connection.on('ready', () => (last = null));
}
