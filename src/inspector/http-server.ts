import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { HostAllowList } from './host-allow-list.js';
import type { Route } from './inspector-routes.js';

/**
 * What one client may cost. Connections past `maxConnections` are closed as they arrive, so a
 * flood of idle sockets holds at most that many file descriptors of the control plane (which
 * needs the rest to start workloads); a client that opens a connection and sends nothing, or
 * sends its headers a byte at a time, is dropped after `headersTimeoutMs`.
 */
export interface HttpLimits {
  readonly maxConnections: number;
  /** From the connection (or the previous response) to the end of the request headers. */
  readonly headersTimeoutMs: number;
  /** The whole request, body included; a response that streams (the event stream) is not bounded by it. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept between requests. */
  readonly keepAliveTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

export interface HttpServerOptions {
  readonly limits?: Partial<HttpLimits>;
  /** Called once bound, with the port: the Host headers to answer (null: any). */
  readonly allowedHosts?: (port: number) => HostAllowList | null;
  /** Paths answered whatever the Host (probes: the kubelet asks by the Pod's IP). */
  readonly anyHostPaths?: readonly string[];
}

/**
 * Sent with every response. The API is JSON only, so nothing it returns may be run or framed;
 * the inspector page replaces the CSP with its own.
 */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cache-control': 'no-store',
} as const;

/** A plain node:http server over a list of routes; the first route that answers wins. */
export class HttpServer {
  private server: Server | null = null;
  private hosts: HostAllowList | null = null;
  private readonly limits: HttpLimits;

  constructor(
    private readonly routes: readonly Route[],
    private readonly log: Logger,
    private readonly options: HttpServerOptions = {},
  ) {
    this.limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  }

  async listen(port: number, host: string): Promise<number> {
    await this.bind((server) => server.listen(port, host));
    const bound = (this.server!.address() as AddressInfo).port;
    this.hosts = this.options.allowedHosts?.(bound) ?? null;
    return bound;
  }

  /**
   * On a Unix socket that anyone on this host may connect to (the routes authenticate); this is
   * how a sandbox with no network reaches the heartbeat endpoint.
   */
  async listenOnSocket(path: string): Promise<void> {
    rmSync(path, { force: true }); // left by a control plane that crashed
    await this.bind((server) => server.listen(path));
    chmodSync(path, 0o666);
  }

  private async bind(listen: (server: Server) => void): Promise<void> {
    const anyHost = new Set(this.options.anyHostPaths ?? []);
    this.server = createServer(
      {
        headersTimeout: this.limits.headersTimeoutMs,
        requestTimeout: this.limits.requestTimeoutMs,
        keepAliveTimeout: this.limits.keepAliveTimeoutMs,
        // How often the two timeouts above are checked; Node's default (30 s) would let a slow
        // client keep its socket up to that much longer than the timeout says.
        connectionsCheckingInterval: Math.min(1_000, this.limits.headersTimeoutMs),
      },
      (req, res) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
        if (this.hosts && !anyHost.has(url.pathname) && !this.hosts.allows(req.headers.host)) {
          res.writeHead(421, { 'content-type': 'application/json', connection: 'close' });
          res.end(JSON.stringify({ error: 'this server does not answer to that Host name (see --http-allowed-hosts)' }));
          return;
        }
        void (async () => {
          for (const route of this.routes) if (await route(req, res, url)) return;
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
        })().catch((error: unknown) => {
          this.log.error({ err: error, url: req.url }, 'http request failed');
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal error' }));
        });
      },
    );
    this.server.maxConnections = this.limits.maxConnections;
    listen(this.server);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('listening', resolve).once('error', reject);
    });
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
