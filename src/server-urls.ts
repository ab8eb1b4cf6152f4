import { isIPv6 } from 'node:net';
import { ConfigError } from './errors.js';
import { redactUrl } from './redact.js';
import { splitUserinfo } from './url-userinfo.js';

/**
 * Server URLs checked when they are given, not when first dialled. ioredis parses its URL with
 * `new URL` inside its constructor, so `redis://:pw@[::1` was an uncaught `TypeError: Invalid URL`
 * with a stack trace and the password in its `input`; nats.js failed the same way on every
 * attempt, which the control plane took for an outage and retried for ever. Both are mistakes
 * in the configuration: one line, the URL redacted, and exit 2.
 */

/**
 * Returns `url` if ioredis can use it: `redis://` or `rediss://` with an optional
 * `user:password@`, a `host:port` without a scheme, a bare port, or a Unix socket path.
 */
export function checkRedisUrl(url: string): string {
  const refuse = (why: string) => new ConfigError(`the Redis URL ${redactUrl(url)} ${why}; set --redis or REDIS_URL`);
  if (/^\d+$/.test(url) || (url.startsWith('/') && !url.startsWith('//'))) return url;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (scheme !== undefined && !/^rediss?$/i.test(scheme)) throw refuse('must start with redis:// or rediss://');
  // The same reading ioredis makes of it.
  const parsed = parse(scheme !== undefined ? url : url.startsWith('//') ? `redis:${url}` : `redis://${url}`);
  if (!parsed) throw refuse('is not a valid URL (redis://[user:password@]host[:port][/db])');
  // ioredis percent-decodes the user and password, and throws on a malformed escape.
  if (!decodes(parsed.username) || !decodes(parsed.password)) throw refuse('has credentials that are not valid percent-encoding (write % as %25)');
  return url;
}

/**
 * Returns `url` if nats.js can use each of its comma-separated servers: `nats://` or `tls://`
 * (or no scheme), optional credentials, a host and an optional port.
 */
export function checkNatsUrl(url: string): string {
  for (const server of url.split(',').map((part) => part.trim()).filter(Boolean)) {
    const refuse = (why: string) => new ConfigError(`the NATS URL ${redactUrl(server)} ${why}; set --nats or NATS_URL`);
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(server)?.[1];
    if (scheme !== undefined && !/^(nats|tls)$/i.test(scheme)) throw refuse('must start with nats:// or tls://');
    // Credentials are taken out before nats.js sees the URL (nats-auth.ts); the rest is host and port.
    const hostPort = splitUserinfo(server).after;
    if (hostPort === '' || (!isIPv6(hostPort) && !parse(`http://${hostPort}`))) throw refuse('is not a valid URL (nats://[user:password@]host[:port])');
  }
  return url;
}

function parse(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}
