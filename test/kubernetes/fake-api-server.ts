import type { TLSSocket } from 'node:tls';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate } from '../helpers/simulated-command.js';
import { EXEC_PROTOCOLS, parseExecQuery, runExec } from './fake-exec.js';
import { acceptWebSocket, refuseUpgrade } from './fake-websocket.js';
import { matchesSelector } from './label-selector.js';
import { schemaErrors } from './schema.js';

/** A Pod as stored: plain JSON, the way the API server holds it. */
export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    [key: string]: unknown;
  };
  spec: {
    containers: { name: string; image: string; command?: string[]; args?: string[]; [key: string]: unknown }[];
    activeDeadlineSeconds?: number;
    [key: string]: unknown;
  };
  status: Record<string, unknown>;
}

type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface HistoryEntry {
  readonly rv: number;
  readonly type: WatchType;
  readonly pod: Pod;
}
interface Watcher {
  readonly namespace: string | null;
  readonly selector: string | null;
  readonly res: ServerResponse;
  /** Asked for bookmarks (allowWatchBookmarks). */
  readonly bookmarks: boolean;
  stalled: boolean;
  close(): void;
}
interface Fault {
  readonly verb: string | null;
  readonly code: number;
  remaining: number;
  readonly retryAfterSeconds?: number;
}

/** Test-only certificates (see tls/README.md); read from the source tree, as tsc does not copy them. */
const TLS = new URL('../../../test/kubernetes/tls/', import.meta.url);

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'AlreadyExists',
  410: 'Expired',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export interface FakeApiServerOptions {
  /** How often open watches get a BOOKMARK (when they asked for bookmarks). */
  readonly bookmarkMs?: number;
  /** Events kept for watches that resume from a resourceVersion; older ones get 410 Gone. */
  readonly historyLimit?: number;
  /**
   * The simulated kubelet's pace: image pull and container start (one figure for every Pod, or a
   * range each Pod draws its own from, uniformly: a realistic cold start is `{min: 1000, max: 3000}`),
   * and a quick command's run.
   */
  readonly startMs?: number | StartRange;
  readonly runMs?: number;
  /** Extra time a Pod takes to terminate after its deletion. */
  readonly terminateMs?: number;
  /** The exec subprotocols it speaks, preferred first (an older server: only v4). */
  readonly execProtocols?: readonly string[];
  /** Messages sent on every exec stream before the command's own, as a proxy or odd server might. */
  readonly execPreamble?: readonly Buffer[];
}

/** Bounds, in ms, of a Pod start drawn for each Pod. */
export interface StartRange {
  readonly min: number;
  readonly max: number;
}

/** How long one Pod takes to start: the fixed figure, or a draw in [min, max] (`random` in [0, 1), as Math.random). */
export function drawStartMs(startMs: number | StartRange, random: () => number = Math.random): number {
  if (typeof startMs === 'number') return startMs;
  return Math.round(startMs.min + random() * (startMs.max - startMs.min));
}

/** A misconfigured fake fails at construction, not as Pods that start at once (setTimeout reads NaN as 1 ms). */
function checkStartMs(startMs: number | StartRange): void {
  const bounds = typeof startMs === 'number' ? [startMs] : [startMs.min, startMs.max];
  if (!bounds.every((ms) => Number.isFinite(ms) && ms >= 0)) throw new Error(`startMs must be a non-negative number of ms, or {min, max} of them, not ${JSON.stringify(startMs)}`);
  if (typeof startMs !== 'number' && startMs.min > startMs.max) throw new Error(`startMs: min (${startMs.min}) is above max (${startMs.max})`);
}

/**
 * A Kubernetes API server for tests, speaking the real HTTP protocol for what Leasehold uses:
 * core/v1 Pods create/get/list (label selectors, limit/continue)/delete/watch (resourceVersion,
 * bookmarks, 410 Gone), Pod logs, Pod exec over WebSocket (see fake-exec.ts), `Status` error
 * bodies, and the discovery documents (`/version`,
 * `/api`, `/api/v1`, `/apis`) plus Table output that `kubectl get pods` needs.
 *
 * Every Pod created is validated against the Kubernetes schemas, unknown fields included, as a
 * server with strict field validation would. A simulated kubelet moves Pods through their phases
 * according to what they run (see `Kubelet.plan`).
 */
export class FakeKubeApiServer {
  readonly token = `fake-${randomUUID()}`;
  /** Requests by `<verb> <resource>`, for example `create pods` or `watch pods`. */
  readonly requests = new Map<string, number>();
  /** Pods every create was asked for, as sent, for schema tests. */
  readonly created: Pod[] = [];
  /** Pods stored by name (a create refused with 409 stores none). */
  private readonly inserted = new Map<string, number>();
  private readonly pods = new Map<string, Pod>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly faults: Fault[] = [];
  private readonly forbidden = new Set<string>();
  private lostCreateAnswers = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly logs = new Map<string, string>();
  /** Commands exec'd into each Pod (by namespace/name) that may still run. */
  private readonly execs = new Map<string, Set<ChildProcess>>();
  /** Where exec'd commands start when the container names no workingDir: a directory of the fake's own, not the host's `/`. */
  readonly execDir = mkdtempSync(join(tmpdir(), 'fake-kube-exec-'));
  /** The start each Pod drew (by namespace/name), so that a benchmark can say what the simulated cluster cost. */
  readonly startDelays = new Map<string, number>();
  /** TLS connections accepted, to show whether clients reuse them. */
  connections = 0;
  /** Of those, the ones that resumed an earlier TLS session (no full handshake). */
  resumedConnections = 0;
  private revision = 1000;
  /** Watches resuming from before this revision get 410 Gone, as after an etcd compaction. */
  private compactedRevision = 0;
  private server: Server | null = null;
  private bookmarkTimer: NodeJS.Timeout | null = null;
  private readonly options: Required<FakeApiServerOptions>;
  port = 0;

  constructor(options: FakeApiServerOptions = {}) {
    this.options = { bookmarkMs: 500, historyLimit: 10_000, startMs: 30, runMs: 30, terminateMs: 10, execProtocols: EXEC_PROTOCOLS, execPreamble: [], ...options };
    try {
      checkStartMs(this.options.startMs);
    } catch (error) {
      rmSync(this.execDir, { recursive: true, force: true }); // made by its field initializer, before this check
      throw error;
    }
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const tls = { cert: readFileSync(new URL('server.crt', TLS)), key: readFileSync(new URL('server.key', TLS)) };
    this.server = createServer(tls, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) this.status(res, 500, `fake api server: ${String(error)}`);
        else res.destroy();
      });
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      this.connections++;
      if (socket.isSessionReused()) this.resumedConnections++;
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    this.bookmarkTimer = setInterval(() => this.sendBookmarks(), this.options.bookmarkMs);
  }

  async stop(): Promise<void> {
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    for (const timer of this.timers) clearTimeout(timer);
    for (const watcher of this.watchers) watcher.close();
    for (const key of this.execs.keys()) this.endExecs(key);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(this.execDir, { recursive: true, force: true });
  }

  /** A kubeconfig for this server, as kubectl and client-node read it. */
  writeKubeconfig(namespace = 'default'): string {
    const path = join(tmpdir(), `fake-kubeconfig-${this.port}-${randomUUID()}.yaml`);
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake\n  cluster:\n    server: ${this.url}\n    certificate-authority-data: ${readFileSync(new URL('ca.crt', TLS)).toString('base64')}`,
        'users:',
        `- name: tester\n  user:\n    token: ${this.token}`,
        'contexts:',
        `- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: ${namespace}`,
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return path;
  }

  // ---- what tests do to the cluster ----

  count(key: string): number {
    return this.requests.get(key) ?? 0;
  }

  /** Pods created by name, over the server's life (a create refused with 409 creates none). */
  createdPods(name: string): number {
    return this.inserted.get(name) ?? 0;
  }

  /** The next `count` requests with this verb (any verb when null) answer `code`. */
  failNext(verb: string | null, code: number, count: number, retryAfterSeconds?: number): void {
    this.faults.push({ verb, code, remaining: count, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
  }

  /**
   * The next `count` creates are carried out but answered 504, as when the API server times out
   * after committing: the client cannot tell whether its Pod exists.
   */
  loseCreateAnswers(count: number): void {
    this.lostCreateAnswers += count;
  }

  /** RBAC as if the Role lacked `verb` on `resource`. */
  forbid(verb: string, resource: string): void {
    this.forbidden.add(`${verb} ${resource}`);
  }

  /** Lifts a `forbid`. */
  allow(verb: string, resource: string): void {
    this.forbidden.delete(`${verb} ${resource}`);
  }

  /** Ends every open watch, as an API server restart or a load balancer would. */
  closeWatches(): void {
    for (const watcher of this.watchers) watcher.close();
  }

  /** Open watches stay open but never say anything again, not even bookmarks. */
  stallWatches(): void {
    for (const watcher of this.watchers) watcher.stalled = true;
  }

  /** Forgets the event history (etcd compaction): resuming from an older resourceVersion gets 410. */
  compact(): void {
    this.history.length = 0;
    this.compactedRevision = this.revision;
  }

  /** Lifts the faults that `failNext` injected and that are not used up. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  openWatches(): number {
    return this.watchers.size;
  }

  get(namespace: string, name: string): Pod | undefined {
    return this.pods.get(`${namespace}/${name}`);
  }

  list(namespace?: string): Pod[] {
    return [...this.pods.values()].filter((p) => namespace === undefined || p.metadata.namespace === namespace);
  }

  /** Creates a Pod directly, as another client would (no request counted). */
  seed(pod: Omit<Pod, 'status' | 'metadata'> & { metadata: { name: string; namespace: string; labels?: Record<string, string> } }): Pod {
    return this.insert(pod as unknown as Pod);
  }

  /** Deletes a Pod behind the control plane's back, as `kubectl delete pod` would. */
  deleteBehindTheBack(namespace: string, name: string): void {
    this.remove(namespace, name, 0);
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.status(res, 401, 'Unauthorized');

    if (req.method === 'GET' && path === '/version') {
      return this.json(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-leasehold-fake', platform: 'linux/amd64' });
    }
    if (req.method === 'GET' && path === '/api') {
      return this.json(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }],
      });
    }
    if (req.method === 'GET' && path === '/apis') return this.json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (req.method === 'GET' && path === '/api/v1') return this.json(res, 200, apiResourceList());

    // kubectl reads the namespace to explain a Pod that is not found; every namespace exists here.
    const namespaceOnly = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && namespaceOnly) {
      return this.json(res, 200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: namespaceOnly[1] }, status: { phase: 'Active' } });
    }
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+)(?:\/(log|exec))?)?$/.exec(path);
    if (!match) return this.status(res, 404, `the server could not find the requested resource (${req.method} ${path})`);
    const [, namespace, name, sub] = match as unknown as [string, string, string | undefined, string | undefined];
    const verb = this.verbOf(req.method ?? 'GET', name, url);
    if (sub === 'exec') return this.status(res, 400, 'Upgrade request required');
    const resource = sub ? 'pods/log' : 'pods';
    this.requests.set(`${verb} ${resource}`, this.count(`${verb} ${resource}`) + 1);

    const fault = this.faults.find((f) => f.remaining > 0 && (f.verb === null || f.verb === verb));
    if (fault) {
      fault.remaining--;
      if (fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(fault.retryAfterSeconds));
      return this.status(res, fault.code, fault.code === 429 ? 'Too many requests, please try again later.' : 'fake api server: injected failure');
    }
    if (this.forbidden.has(`${verb} ${resource}`)) {
      return this.status(
        res,
        403,
        `${resource} ${name ? `"${name}" ` : ''}is forbidden: User "system:serviceaccount:leasehold:leasehold" cannot ${verb} resource "${resource.split('/')[0]}"${sub ? ` subresource "${sub}"` : ''} in API group "" in the namespace "${namespace}"`,
        { name, kind: 'pods' },
      );
    }

    switch (verb) {
      case 'create':
        return this.create(req, res, namespace);
      case 'get':
        return sub ? this.readLog(res, namespace, name!, url) : this.read(res, namespace, name!);
      case 'list':
        return this.listPods(req, res, namespace, url);
      case 'watch':
        return this.watch(res, namespace, url);
      case 'delete':
        return this.deletePod(req, res, namespace, name!, url);
      default:
        return this.status(res, 405, `${req.method} is not supported by the fake API server`);
    }
  }

  /**
   * `pods/<name>/exec` with `Upgrade: websocket`, by GET (client-go, client-node) or POST. Since
   * Kubernetes 1.30 a WebSocket GET needs RBAC `create` on pods/exec as well as `get`
   * (AuthorizePodWebsocketUpgradeCreatePermission); a POST needs `create`.
   */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const refuse = (code: number, message: string, details?: { name?: string; kind?: string }) =>
      refuseUpgrade(socket, code, REASONS[code] ?? 'Error', statusBody(code, message, details));
    if (req.headers.authorization !== `Bearer ${this.token}`) return refuse(401, 'Unauthorized');
    const url = new URL(req.url ?? '/', this.url);
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    if (!match || (req.method !== 'GET' && req.method !== 'POST')) {
      return refuse(404, `the server could not find the requested resource (${req.method} ${url.pathname})`);
    }
    const [, namespace, name] = match as unknown as [string, string, string];
    this.requests.set('create pods/exec', this.count('create pods/exec') + 1);
    for (const verb of req.method === 'GET' ? ['get', 'create'] : ['create']) {
      if (this.forbidden.has(`${verb} pods/exec`)) {
        return refuse(
          403,
          `pods "${name}" is forbidden: User "system:serviceaccount:leasehold:leasehold" cannot ${verb} resource "pods/exec" in API group "" in the namespace "${namespace}"`,
          { name, kind: 'pods' },
        );
      }
    }
    const query = parseExecQuery(url);
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) return refuse(404, `pods "${name}" not found`, { name, kind: 'pods' });
    const containers = pod.spec.containers;
    const container = query.container ? containers.find((c) => c.name === query.container) : containers.length === 1 ? containers[0] : undefined;
    if (!container) {
      return refuse(
        400,
        query.container
          ? `container ${query.container} is not valid for pod ${name}`
          : `a container name must be specified for pod ${name}, choose one of: [${containers.map((c) => c.name).join(' ')}]`,
      );
    }
    if (query.argv.length === 0) return refuse(400, 'you must specify at least one command for the container');
    if (!query.stdin && !query.stdout && !query.stderr) return refuse(400, 'you must specify at least 1 of stdin, stdout, stderr');
    if (pod.status.phase !== 'Running' || pod.metadata.deletionTimestamp) {
      return refuse(400, `unable to upgrade connection: container not found ("${container.name}")`);
    }
    const ws = acceptWebSocket(req, socket, head, this.options.execProtocols);
    if (!ws) {
      return refuse(400, `unable to upgrade connection: the fake API server speaks only WebSocket (${this.options.execProtocols.join(', ')})`);
    }
    // The container's own environment (literal values) and working directory, on this host.
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    for (const entry of (container.env ?? []) as { name: string; value?: string }[]) if (entry.value !== undefined) env[entry.name] = entry.value;
    for (const message of this.options.execPreamble) ws.send(message);
    const key = `${namespace}/${name}`;
    const child = runExec(ws, query, { env, cwd: typeof container.workingDir === 'string' ? container.workingDir : this.podDir(namespace, name) });
    const running = this.execs.get(key) ?? new Set<ChildProcess>();
    this.execs.set(key, running.add(child));
    child.on('close', () => running.delete(child));
  }

  /** A Pod's own directory on this host, standing for its container's filesystem: no two Pods share one. */
  podDir(namespace: string, name: string): string {
    const dir = join(this.execDir, namespace, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Exec'd commands end with their Pod (and with the fake). */
  private endExecs(key: string): void {
    for (const child of this.execs.get(key) ?? []) child.kill('SIGKILL');
    this.execs.delete(key);
  }

  private verbOf(method: string, name: string | undefined, url: URL): string {
    if (method === 'POST') return 'create';
    if (method === 'DELETE') return 'delete';
    if (method === 'GET' && name) return 'get';
    if (method === 'GET') return url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1' ? 'watch' : 'list';
    return method.toLowerCase();
  }

  private async create(req: IncomingMessage, res: ServerResponse, namespace: string): Promise<void> {
    const body = JSON.parse(await readBody(req)) as Pod;
    this.created.push(structuredClone(body));
    const errors = await schemaErrors(body);
    if (errors.length > 0) return this.status(res, 422, `Pod is invalid: ${errors.join('; ')}`, { kind: 'pods', name: body.metadata?.name });
    const name = body.metadata?.name;
    if (!name || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
      return this.status(res, 422, `Pod "${name}" is invalid: metadata.name: Invalid value`, { kind: 'pods', name });
    }
    if (body.metadata.namespace && body.metadata.namespace !== namespace) {
      return this.status(res, 400, 'the namespace of the provided object does not match the namespace sent on the request');
    }
    if (this.pods.has(`${namespace}/${name}`)) {
      return this.status(res, 409, `pods "${name}" already exists`, { name, kind: 'pods' });
    }
    const pod = this.insert({ ...body, metadata: { ...body.metadata, namespace } });
    if (this.lostCreateAnswers > 0) {
      this.lostCreateAnswers--;
      return this.status(res, 504, 'Timeout: request did not complete within the allotted timeout');
    }
    this.json(res, 201, pod);
  }

  private read(res: ServerResponse, namespace: string, name: string): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) return this.status(res, 404, `pods "${name}" not found`, { name, kind: 'pods' });
    this.json(res, 200, pod);
  }

  private readLog(res: ServerResponse, namespace: string, name: string, url: URL): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) return this.status(res, 404, `pods "${name}" not found`, { name, kind: 'pods' });
    if (pod.status.phase === 'Pending') {
      return this.status(res, 400, `container "${pod.spec.containers[0]!.name}" in pod "${name}" is waiting to start: ContainerCreating`);
    }
    let text = this.logs.get(`${namespace}/${name}`) ?? '';
    const limit = Number(url.searchParams.get('limitBytes'));
    if (limit > 0) text = text.slice(0, limit);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(text);
  }

  private listPods(req: IncomingMessage, res: ServerResponse, namespace: string, url: URL): void {
    const selector = url.searchParams.get('labelSelector');
    const all = [...this.pods.values()]
      .filter((p) => p.metadata.namespace === namespace && matchesSelector(selector, p.metadata.labels ?? {}))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const limit = Number(url.searchParams.get('limit')) || Infinity;
    const cont = url.searchParams.get('continue');
    const start = cont ? (JSON.parse(Buffer.from(cont, 'base64url').toString()) as { offset: number }).offset : 0;
    const items = all.slice(start, start + limit);
    const more = start + limit < all.length;
    const metadata = {
      resourceVersion: String(this.revision),
      ...(more ? { continue: Buffer.from(JSON.stringify({ offset: start + limit })).toString('base64url') } : {}),
    };
    if ((req.headers.accept ?? '').includes('as=Table')) return this.json(res, 200, podTable(items, metadata));
    this.json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata, items });
  }

  private watch(res: ServerResponse, namespace: string, url: URL): void {
    const selector = url.searchParams.get('labelSelector');
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
    const since = url.searchParams.get('resourceVersion');
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds')) || 0;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // as kube-apiserver does: the client knows the watch is open before any event
    const send = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
    let timer: NodeJS.Timeout | undefined;
    const watcher: Watcher = {
      namespace,
      selector,
      res,
      bookmarks,
      stalled: false,
      close: () => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
        res.end();
      },
    };
    res.on('close', () => watcher.close());

    const matches = (pod: Pod) => pod.metadata.namespace === namespace && matchesSelector(selector, pod.metadata.labels ?? {});
    if (!since || since === '0') {
      for (const pod of this.pods.values()) if (matches(pod)) send('ADDED', pod);
    } else {
      const from = Number(since);
      const oldest = Math.max(this.compactedRevision, (this.history[0]?.rv ?? this.revision + 1) - 1);
      if (from < oldest) {
        send('ERROR', statusBody(410, `too old resource version: ${from} (${oldest})`));
        return void res.end();
      }
      for (const entry of this.history) if (entry.rv > from && matches(entry.pod)) send(entry.type, entry.pod);
    }
    this.watchers.add(watcher);
    if (timeoutSeconds > 0) timer = setTimeout(() => watcher.close(), timeoutSeconds * 1000);
  }

  private async deletePod(req: IncomingMessage, res: ServerResponse, namespace: string, name: string, url: URL): Promise<void> {
    const body = await readBody(req);
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) return this.status(res, 404, `pods "${name}" not found`, { name, kind: 'pods' });
    const options = body ? (JSON.parse(body) as { gracePeriodSeconds?: number; preconditions?: { uid?: string } }) : {};
    const expectedUid = options.preconditions?.uid;
    if (expectedUid && expectedUid !== pod.metadata.uid) {
      return this.status(res, 409, `Precondition failed: UID in precondition: ${expectedUid}, UID in object meta: ${pod.metadata.uid}`, {
        name,
        kind: 'pods',
      });
    }
    const grace = Number(url.searchParams.get('gracePeriodSeconds') ?? options.gracePeriodSeconds ?? 30);
    this.remove(namespace, name, grace);
    this.json(res, 200, this.pods.get(`${namespace}/${name}`) ?? pod);
  }

  // ---- storage and the kubelet ----

  private insert(input: Pod): Pod {
    this.inserted.set(input.metadata.name, (this.inserted.get(input.metadata.name) ?? 0) + 1);
    const pod: Pod = {
      ...input,
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...input.metadata,
        uid: randomUUID(),
        resourceVersion: '',
        creationTimestamp: new Date().toISOString(),
      },
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    };
    this.commit('ADDED', pod);
    this.kubelet(pod);
    return pod;
  }

  private update(namespace: string, name: string, change: (pod: Pod) => void): void {
    const current = this.pods.get(`${namespace}/${name}`);
    if (!current) return;
    const next = structuredClone(current);
    change(next);
    this.commit('MODIFIED', next);
  }

  private remove(namespace: string, name: string, graceSeconds: number): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod || pod.metadata.deletionTimestamp) return;
    const finished = pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed';
    if (graceSeconds === 0 || finished) {
      this.pods.delete(`${namespace}/${name}`);
      this.commit('DELETED', pod);
      return;
    }
    this.update(namespace, name, (p) => {
      p.metadata.deletionTimestamp = new Date(Date.now() + graceSeconds * 1000).toISOString();
      p.metadata.deletionGracePeriodSeconds = graceSeconds;
    });
    // The kubelet stops the container (every simulated command dies on SIGTERM), then confirms.
    this.later(this.options.terminateMs, () => {
      const current = this.pods.get(`${namespace}/${name}`);
      if (!current) return;
      this.pods.delete(`${namespace}/${name}`);
      this.commit('DELETED', current);
    });
  }

  private commit(type: WatchType, pod: Pod): void {
    pod.metadata.resourceVersion = String(++this.revision);
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (type !== 'DELETED') this.pods.set(key, pod);
    else {
      this.logs.delete(key);
      this.endExecs(key);
    }
    const entry = { rv: this.revision, type, pod: structuredClone(pod) };
    this.history.push(entry);
    if (this.history.length > this.options.historyLimit) this.compactedRevision = this.history.shift()!.rv;
    for (const watcher of this.watchers) {
      if (watcher.stalled || watcher.namespace !== pod.metadata.namespace) continue;
      if (!matchesSelector(watcher.selector, pod.metadata.labels ?? {})) continue;
      watcher.res.write(`${JSON.stringify({ type, object: entry.pod })}\n`);
    }
  }

  private sendBookmarks(): void {
    for (const watcher of this.watchers) {
      if (watcher.stalled || !watcher.bookmarks) continue;
      const object = { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(this.revision) } };
      watcher.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
    }
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  /**
   * The simulated kubelet. What a Pod does follows from what it runs:
   * image `does-not-exist` stays Pending in ErrImagePull; `echo …` prints and succeeds; `true`
   * succeeds and `false` fails; `sh -c "exit N"` fails with N; `sleep N` runs N seconds; anything
   * else runs until deleted. `activeDeadlineSeconds` ends a Pod with DeadlineExceeded.
   */
  private kubelet(created: Pod): void {
    const { namespace, name } = created.metadata;
    const key = `${namespace}/${name}`;
    const container = created.spec.containers[0]!;
    const alive = () => this.pods.get(key)?.metadata.uid === created.metadata.uid && !this.pods.get(key)?.metadata.deletionTimestamp;
    const startMs = drawStartMs(this.options.startMs);
    this.startDelays.set(key, startMs);
    this.later(startMs / 2, () => {
      if (!alive()) return;
      this.update(namespace, name, (p) => {
        p.spec.nodeName = 'fake-node';
        p.status = {
          ...p.status,
          conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: new Date().toISOString() }],
          containerStatuses: [waitingStatus(container, 'ContainerCreating')],
        };
      });
    });
    if (container.image === 'does-not-exist') {
      this.later(startMs, () => {
        if (!alive()) return;
        this.update(namespace, name, (p) => {
          p.status.containerStatuses = [
            waitingStatus(container, 'ErrImagePull', `failed to pull image "does-not-exist": pull access denied, repository does not exist`),
          ];
        });
      });
      return;
    }
    const plan = simulate([...(container.command ?? []), ...(container.args ?? [])]);
    this.later(startMs, () => {
      if (!alive()) return;
      const startedAt = new Date().toISOString();
      this.update(namespace, name, (p) => {
        p.status = {
          ...p.status,
          phase: 'Running',
          startTime: startedAt,
          podIP: '10.0.0.10',
          containerStatuses: [{ ...baseStatus(container), ready: true, started: true, state: { running: { startedAt } } }],
        };
      });
      if (plan.output) this.logs.set(key, plan.output);
      const finish = (exitCode: number, podReason?: string, message?: string) => {
        if (!alive()) return;
        this.update(namespace, name, (p) => {
          p.status = {
            ...p.status,
            phase: exitCode === 0 ? 'Succeeded' : 'Failed',
            ...(podReason ? { reason: podReason, message } : {}),
            containerStatuses: [
              {
                ...baseStatus(container),
                ready: false,
                started: false,
                state: {
                  terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: new Date().toISOString() },
                },
              },
            ],
          };
        });
      };
      if (plan.runMs !== null) this.later(plan.runMs ?? this.options.runMs, () => finish(plan.exitCode));
      const deadline = created.spec.activeDeadlineSeconds;
      if (deadline !== undefined) {
        this.later(deadline * 1000, () => finish(137, 'DeadlineExceeded', 'Pod was active on the node longer than the specified deadline'));
      }
    });
  }

  private status(res: ServerResponse, code: number, message: string, details?: { name?: string | undefined; kind?: string }): void {
    this.json(res, code, statusBody(code, message, details));
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

function baseStatus(container: { name: string; image: string }) {
  return { name: container.name, image: container.image, imageID: '', restartCount: 0 };
}

function waitingStatus(container: { name: string; image: string }, reason: string, message?: string) {
  return { ...baseStatus(container), ready: false, started: false, state: { waiting: { reason, ...(message ? { message } : {}) } } };
}

function statusBody(code: number, message: string, details?: { name?: string | undefined; kind?: string }) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: REASONS[code] ?? 'Unknown',
    ...(details ? { details } : {}),
    code,
  };
}

function apiResourceList() {
  const verbs = ['create', 'delete', 'get', 'list', 'watch'];
  return {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs, shortNames: ['po'], categories: ['all'] },
      { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
      { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    ],
  };
}

function podTable(pods: Pod[], metadata: Record<string, unknown>) {
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name', priority: 0 },
      { name: 'Ready', type: 'string', format: '', description: 'Ready containers', priority: 0 },
      { name: 'Status', type: 'string', format: '', description: 'Phase', priority: 0 },
      { name: 'Restarts', type: 'string', format: '', description: 'Restarts', priority: 0 },
      { name: 'Age', type: 'string', format: '', description: 'Age', priority: 0 },
    ],
    rows: pods.map((pod) => ({
      cells: [
        pod.metadata.name,
        pod.status.phase === 'Running' ? '1/1' : '0/1',
        pod.metadata.deletionTimestamp ? 'Terminating' : pod.status.phase,
        '0',
        `${Math.max(0, Math.round((now - Date.parse(pod.metadata.creationTimestamp)) / 1000))}s`,
      ],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: pod.metadata },
    })),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
