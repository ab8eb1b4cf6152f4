import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Route } from './inspector-routes.js';

/** A plain node:http server over a list of routes; the first route that answers wins. */
export class HttpServer {
  private server: Server | null = null;

  constructor(
    private readonly routes: readonly Route[],
    private readonly log: Logger,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    await this.bind((server) => server.listen(port, host));
    return (this.server!.address() as AddressInfo).port;
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
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      void (async () => {
        for (const route of this.routes) if (await route(req, res, url)) return;
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      })().catch((error: unknown) => {
        this.log.error({ err: error, url: req.url }, 'http request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal error' }));
      });
    });
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
