import type { ServerResponse } from 'node:http';
import { HeartbeatRateLimit, type HeartbeatRate } from '../lease/heartbeat-rate-limit.js';
import type { HeartbeatTokens } from '../lease/heartbeat-tokens.js';
import { authorize, type HttpTokens } from './http-auth.js';
import type { Route } from './inspector-routes.js';
import type { Metrics } from './metrics.js';

export interface HeartbeatRouteDeps {
  readonly tokens: HeartbeatTokens;
  /** May ask Redis: a heartbeat can reach any replica, not only the workload's owner. */
  readonly heartbeat: (id: string) => boolean | Promise<boolean>;
  /** Heartbeats per workload; more are answered 429 before they reach the lease (default: 5/s after a burst of 10). */
  readonly heartbeatRate?: HeartbeatRate;
  readonly now?: () => number;
}

export interface ControlRouteDeps extends HeartbeatRouteDeps {
  readonly metrics: Metrics;
  readonly ready: () => { ready: boolean; checks: Record<string, boolean> };
  /** Null leaves /metrics public (the default: see `--metrics-auth`); otherwise it needs a read token. */
  readonly metricsTokens: HttpTokens | null;
}

/** Answered whatever the Host header: the kubelet probes a Pod by its IP. */
export const PROBE_PATHS = ['/livez', '/readyz'] as const;

const HEARTBEAT = /^\/v1\/workloads\/([a-z0-9-]{1,59})\/heartbeat$/;

/** Probes, metrics, and the heartbeat endpoint. */
export function controlRoutes(deps: ControlRouteDeps): Route {
  const heartbeat = heartbeatRoute(deps);
  return async (req, res, url) => {
    const path = url.pathname;
    if (req.method === 'GET' && path === '/livez') return send(res, 200, { live: true });
    if (req.method === 'GET' && path === '/readyz') {
      const readiness = deps.ready();
      return send(res, readiness.ready ? 200 : 503, readiness);
    }
    if (req.method === 'GET' && path === '/metrics') {
      if (deps.metricsTokens && !authorize(req, res, deps.metricsTokens, 'read')) return true;
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(await deps.metrics.registry.metrics());
      return true;
    }
    return heartbeat(req, res, url);
  };
}

/**
 * The narrow endpoint that lets a workload renew its own lease with its token and nothing else;
 * alone, it is all the heartbeat socket serves to sandboxes.
 */
export function heartbeatRoute(deps: HeartbeatRouteDeps): Route {
  const rate = new HeartbeatRateLimit(deps.heartbeatRate, deps.now);
  return async (req, res, url) => {
    const match = HEARTBEAT.exec(url.pathname);
    if (!match) return false;
    if (req.method !== 'POST' && req.method !== 'PUT') return send(res, 405, { error: 'use POST' });
    const id = match[1]!;
    const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
    if (!token || !(await deps.tokens.verify(id, token))) return send(res, 401, { error: 'bad or missing heartbeat token' });
    // After the token: no one but the workload itself can use up its bucket.
    if (!rate.take(id)) return send(res, 429, { error: 'too many heartbeats' });
    if (!(await deps.heartbeat(id))) return send(res, 409, { error: `workload ${id} is not running` });
    res.writeHead(204).end();
    return true;
  };
}

function send(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
  return true;
}
