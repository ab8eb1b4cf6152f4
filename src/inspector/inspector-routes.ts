import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WorkloadStatus } from '../events/transition.js';
import type { Chart } from './chart.js';
import type { InspectorModel } from './model.js';
import { INSPECTOR_PAGE } from './page.js';

export interface InspectorSource {
  readonly model: InspectorModel;
  readonly chart: Chart;
  /** Whether live updates flow (NATS connected); the page shows "disconnected" when not. */
  connected(): boolean;
  status(id: string): Promise<WorkloadStatus | null>;
  logs(id: string): Promise<string | null>;
}

export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean;

const ONE = /^\/api\/workloads\/([a-z0-9-]{1,59})(\/logs|\/timeline)?$/;
const TICK_MS = 250;

/**
 * The inspector's page and JSON API. Live updates are a server-sent event stream of throttled
 * ticks (counts and connection state, at most four a second, however many transitions happen):
 * the page then fetches only what it shows, so 10,000 workloads cost the browser one page of rows.
 */
export function inspectorRoutes(source: InspectorSource): Route {
  return async (req, res, url) => {
    if (req.method !== 'GET') return false;
    const path = url.pathname;
    if (path === '/' || path === '/inspector') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(INSPECTOR_PAGE);
      return true;
    }
    if (path === '/api/machine') return json(res, 200, source.chart);
    if (path === '/api/summary') return json(res, 200, { connected: source.connected(), states: source.model.summary() });
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
    const one = ONE.exec(path);
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
      stream(req, res, source);
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

function stream(req: IncomingMessage, res: ServerResponse, source: InspectorSource): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  let dirty = true;
  let lastConnected: boolean | null = null;
  const send = () => {
    const connected = source.connected();
    if (!dirty && connected === lastConnected) return;
    dirty = false;
    lastConnected = connected;
    res.write(`event: tick\ndata: ${JSON.stringify({ connected, states: source.model.summary() })}\n\n`);
  };
  const unsubscribe = source.model.subscribe(() => (dirty = true));
  const timer = setInterval(send, TICK_MS);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  send();
  req.on('close', () => {
    clearInterval(timer);
    clearInterval(keepAlive);
    unsubscribe();
  });
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
  return true;
}
