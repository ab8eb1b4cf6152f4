import { chmodSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { DEFAULT_HEARTBEAT_RATE, HeartbeatRateLimit, type HeartbeatRate } from '../../lease/heartbeat-rate-limit.js';

/**
 * One sandbox's own heartbeat socket. A sandbox has no network, so it renews its lease through a
 * Unix socket bound into it; were that the control plane's one socket, a single sandbox could hold
 * all of the control plane's descriptors with idle connections, or keep it busy with pipelined
 * heartbeats. So each sandbox gets a socket of its own that takes a few connections, one request
 * each, only for its own id and at most at `rate`; what passes is relayed to the control plane's
 * socket (no longer bound into any sandbox). What a sandbox does to its socket costs only it.
 */
export interface HeartbeatRelayLimits {
  readonly maxConnections: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly rate: HeartbeatRate;
}

export const DEFAULT_RELAY_LIMITS: HeartbeatRelayLimits = {
  maxConnections: 4,
  headersTimeoutMs: 2_000,
  requestTimeoutMs: 5_000,
  rate: DEFAULT_HEARTBEAT_RATE,
};

export class HeartbeatRelay {
  private readonly rate: HeartbeatRateLimit;
  private constructor(
    private readonly server: Server,
    readonly path: string,
    rate: HeartbeatRate,
  ) {
    this.rate = new HeartbeatRateLimit(rate);
  }

  /** Listens on `path` for `id`'s heartbeats and relays them to `upstream`, the control plane's socket. */
  static async open(id: string, path: string, upstream: string, limits: HeartbeatRelayLimits = DEFAULT_RELAY_LIMITS): Promise<HeartbeatRelay> {
    const ownPath = `/v1/workloads/${id}/heartbeat`;
    let relay: HeartbeatRelay | undefined;
    const server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: 1,
        connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
      },
      (req, res) => {
        const answer = (status: number, error?: string) => {
          res.writeHead(status, { connection: 'close', ...(error ? { 'content-type': 'application/json' } : {}) });
          res.end(error ? JSON.stringify({ error }) : undefined);
        };
        const path = new URL(req.url ?? '/', 'http://localhost').pathname;
        // As the control plane's endpoint would answer: nothing but heartbeats here, and no token
        // of this workload's fits another's.
        if (!/^\/v1\/workloads\/[^/]+\/heartbeat$/.test(path)) return answer(404, 'not found');
        if (path !== ownPath) return answer(401, 'bad or missing heartbeat token');
        if (req.method !== 'POST' && req.method !== 'PUT') return answer(405, 'use POST');
        if (!relay!.rate.take(id)) return answer(429, 'too many heartbeats');
        const forwarded = request(
          { socketPath: upstream, method: 'POST', path: ownPath, headers: { authorization: req.headers.authorization ?? '', connection: 'close' }, timeout: limits.requestTimeoutMs },
          (upstreamRes) => {
            res.writeHead(upstreamRes.statusCode ?? 502, { connection: 'close', ...(upstreamRes.headers['content-type'] ? { 'content-type': upstreamRes.headers['content-type'] } : {}) });
            upstreamRes.pipe(res);
          },
        );
        forwarded.on('timeout', () => forwarded.destroy(new Error('timeout')));
        forwarded.on('error', () => {
          if (!res.headersSent) answer(502, 'the control plane did not answer');
          else res.destroy();
        });
        forwarded.end();
        req.resume(); // a heartbeat has no body; whatever is sent is read and dropped
      },
    );
    server.maxConnections = limits.maxConnections;
    server.maxRequestsPerSocket = 1; // no pipelining: every heartbeat costs the sandbox a connection
    rmSync(path, { force: true }); // left by a control plane that crashed
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
    chmodSync(path, 0o666); // the sandbox user connects; nothing else sees the 0711 directory's names
    relay = new HeartbeatRelay(server, path, limits.rate);
    return relay;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}
