import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkloadStatus } from '../events/transition.js';
import type { HeartbeatTokens } from '../lease/heartbeat-tokens.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

export interface HttpDeps {
  readonly metrics: Metrics;
  readonly tokens: HeartbeatTokens;
  readonly ready: () => { ready: boolean; checks: Record<string, boolean> };
  readonly heartbeat: (id: string) => boolean;
  readonly status: (id: string) => Promise<WorkloadStatus | null>;
  readonly log: Logger;
}

const HEARTBEAT = /^\/v1\/workloads\/([a-z0-9-]{1,59})\/heartbeat$/;
const WORKLOAD = /^\/api\/workloads\/([a-z0-9-]{1,59})$/;

/**
 * The control plane's HTTP face: probes, metrics, status, and the narrow heartbeat endpoint that
 * lets a workload renew its own lease with its token and nothing else.
 */
export class HttpServer {
  private server: Server | null = null;

  constructor(private readonly deps: HttpDeps) {}

  async listen(port: number, host: string): Promise<number> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.deps.log.error({ err: error, url: req.url }, 'http request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
      });
    });
    this.server.listen(port, host);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('listening', resolve).once('error', reject);
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/livez') return send(res, 200, { live: true });
    if (req.method === 'GET' && path === '/readyz') {
      const readiness = this.deps.ready();
      return send(res, readiness.ready ? 200 : 503, readiness);
    }
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': this.deps.metrics.registry.contentType });
      res.end(await this.deps.metrics.registry.metrics());
      return;
    }
    const heartbeat = HEARTBEAT.exec(path);
    if (heartbeat) {
      if (req.method !== 'POST' && req.method !== 'PUT') return send(res, 405, { error: 'use POST' });
      const id = heartbeat[1]!;
      const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      if (!token || !this.deps.tokens.verify(id, token)) return send(res, 401, { error: 'bad or missing heartbeat token' });
      if (!this.deps.heartbeat(id)) return send(res, 409, { error: `workload ${id} is not running` });
      res.writeHead(204).end();
      return;
    }
    const workload = WORKLOAD.exec(path);
    if (workload && req.method === 'GET') {
      const status = await this.deps.status(workload[1]!);
      return status ? send(res, 200, status) : send(res, 404, { error: `no workload ${workload[1]}` });
    }
    send(res, 404, { error: 'not found' });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
