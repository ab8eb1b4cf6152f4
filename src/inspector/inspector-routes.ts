import type { PoolStats } from '../pool/warm-pool.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WorkloadStatus } from '../events/transition.js';
import type { Chart } from './chart.js';
import { authorize, type HttpTokens } from './http-auth.js';
import type { InspectorModel } from './model.js';
import { INSPECTOR_PAGE, INSPECTOR_PAGE_CSP } from './page.js';
import { INSPECTOR_SCRIPT } from './page-script.js';
import { INSPECTOR_STYLE } from './page-style.js';

export interface InspectorSource {
  readonly model: InspectorModel;
  readonly chart: Chart;
  /** Whether live updates flow (NATS connected); the page shows "disconnected" when not. */
  connected(): boolean;
  status(id: string): Promise<WorkloadStatus | null>;
  logs(id: string): Promise<string | null>;
  /** The warm pools: size, ready, in use, hits and misses. */
  pools?(): readonly PoolStats[];
}

export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean;

export interface InspectorAccess {
  readonly tokens: HttpTokens;
  /** Event streams open at once; each holds a connection and a timer for as long as it lasts. */
  readonly maxStreams?: number;
}

export const DEFAULT_MAX_STREAMS = 64;

const ONE = /^\/api\/workloads\/([a-z0-9-]{1,59})(\/logs|\/timeline)?$/;
const TICK_MS = 250;

const ASSETS: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: INSPECTOR_PAGE },
  '/inspector': { type: 'text/html; charset=utf-8', body: INSPECTOR_PAGE },
  '/inspector.js': { type: 'text/javascript; charset=utf-8', body: INSPECTOR_SCRIPT },
  '/inspector.css': { type: 'text/css; charset=utf-8', body: INSPECTOR_STYLE },
};

/**
 * The inspector's page and JSON API. Live updates are a server-sent event stream of throttled
 * ticks (counts and connection state, at most four a second, however many transitions happen):
 * the page then fetches only what it shows, so 10,000 workloads cost the browser one page of rows.
 *
 * The page and its script and style are public (they hold no data, and the page asks for the
 * token); everything under /api needs a read token, and logs an operator token, because a
 * workload's output can hold the secrets it was given.
 */
export function inspectorRoutes(source: InspectorSource, access: InspectorAccess): Route {
  const maxStreams = access.maxStreams ?? DEFAULT_MAX_STREAMS;
  let streams = 0;
  return async (req, res, url) => {
    if (req.method !== 'GET') return false;
    const path = url.pathname;
    const asset = ASSETS[path];
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'content-security-policy': INSPECTOR_PAGE_CSP });
      res.end(asset.body);
      return true;
    }
    if (!path.startsWith('/api/')) return false;
    const one = ONE.exec(path);
    const need = one?.[2] === '/logs' ? 'operator' : 'read';
    if (!authorize(req, res, access.tokens, need)) return true;
    if (path === '/api/machine') return json(res, 200, source.chart);
    if (path === '/api/summary') return json(res, 200, { connected: source.connected(), states: source.model.summary(), pools: source.pools?.() ?? [] });
    if (path === '/api/workloads') {
      const p = url.searchParams;
      return json(
        res,
        200,
        source.model.list({
          q: p.get('q') ?? undefined,
          state: p.get('state') || undefined,
          type: p.get('type') || undefined,
          offset: Number(p.get('offset') ?? 0),
          limit: Number(p.get('limit') ?? 50),
        }),
      );
    }
    if (one) {
      const id = one[1]!;
      if (one[2] === '/timeline') {
        const view = source.model.get(id);
        return view ? json(res, 200, timelineOf(view.timeline)) : json(res, 404, { error: `no timeline for ${id}` });
      }
      if (one[2]) {
        const text = await source.logs(id).catch(() => null);
        return text === null ? json(res, 404, { error: `no logs for ${id}` }) : json(res, 200, { id, logs: text });
      }
      const view = source.model.get(id);
      const status = await source.status(id).catch(() => null);
      if (!view && !status) return json(res, 404, { error: `no workload ${id}` });
      return json(res, 200, { id, status, state: status?.state ?? view?.state, type: status?.type ?? view?.type, timeline: timelineOf(view?.timeline ?? []) });
    }
    if (path === '/api/stream') {
      if (streams >= maxStreams) {
        res.setHeader('retry-after', '5');
        return json(res, 503, { error: `${maxStreams} event streams are open already; try again later` });
      }
      streams++;
      stream(res, source, () => streams--);
      return true;
    }
    return false;
  };
}

function timelineOf(messages: { at: string; to: string }[]) {
  return messages.map((m, i) => {
    const next = messages[i + 1];
    return { ...m, spentMs: next ? Date.parse(next.at) - Date.parse(m.at) : null };
  });
}

function stream(res: ServerResponse, source: InspectorSource, closed: () => void): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  let dirty = true;
  let lastConnected: boolean | null = null;
  const send = () => {
    // A client that stops reading gets no more ticks until it catches up: it will want only the
    // latest anyway, and its unread ticks would otherwise pile up in our memory.
    if (res.writableNeedDrain) return;
    const connected = source.connected();
    if (!dirty && connected === lastConnected) return;
    dirty = false;
    lastConnected = connected;
    res.write(`event: tick\ndata: ${JSON.stringify({ connected, states: source.model.summary(), pools: source.pools?.() ?? [] })}\n\n`);
  };
  const unsubscribe = source.model.subscribe(() => (dirty = true));
  const timer = setInterval(send, TICK_MS);
  const keepAlive = setInterval(() => res.writableNeedDrain || res.write(': keep-alive\n\n'), 15_000);
  send();
  // The response's close, not the request's: the request of a GET is over as soon as it is read.
  res.on('close', () => {
    clearInterval(timer);
    clearInterval(keepAlive);
    unsubscribe();
    closed();
  });
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
  return true;
}
