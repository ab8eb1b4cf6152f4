import type { CoreV1Api, V1Pod, Watch } from '@kubernetes/client-node';
import { backoffDelay, describeError } from '../../../machines/index.js';
import { silentLogger, type Logger } from '../../log.js';
import { isTransientStatus, kubeStatus, toRuntimeError } from './api-errors.js';

export type PodChange = (pod: V1Pod, deleted: boolean) => void;

export interface PodWatcherOptions {
  readonly api: CoreV1Api;
  readonly watch: Watch;
  readonly namespace: string;
  readonly labelSelector: string;
  /** With no event and no bookmark for this long, the watch is presumed dead and restarted. */
  readonly stallMs?: number;
  /** Asks the server to end each watch after about this long, so connections are recycled. */
  readonly watchTimeoutSeconds?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Page size of a relist. */
  readonly pageSize?: number;
  readonly log?: Logger;
}

type WatchOutcome = 'closed' | 'gone' | 'stalled' | 'stopped';

/** With no event and no bookmark for this long, a watch is presumed dead. */
export const DEFAULT_STALL_MS = 120_000;

/**
 * One list-then-watch over every Pod we manage in a namespace, kept as a cache. This is the only
 * way the runtime learns about Pods: no per-workload polling.
 *
 * Why not client-node's informer: it does not restart itself after an error, and it cannot tell a
 * silent, stalled connection from a quiet cluster. Here: a 410 Gone relists, any other error or
 * an end of stream watches again from the last resourceVersion with backoff, and a stall (nothing,
 * not even a bookmark, for `stallMs`) aborts the connection and starts over.
 */
export class PodWatcher {
  private readonly pods = new Map<string, V1Pod>();
  private readonly listeners = new Set<PodChange>();
  private readonly goneWaiters = new Map<string, Set<() => void>>();
  private resourceVersion: string | null = null;
  private controller: AbortController | null = null;
  /** Ends the current watch at once; aborting alone lets buffered lines trickle in for a while. */
  private endWatch: (() => void) | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wakeSleep: (() => void) | null = null;
  private readonly log: Logger;
  /** Counters for tests and metrics: how often we listed and opened a watch. */
  readonly stats = { lists: 0, watches: 0, relistsAfterGone: 0, stalls: 0, errors: 0 };

  constructor(private readonly options: PodWatcherOptions) {
    this.log = options.log ?? silentLogger;
  }

  /** Lists once (retrying what may pass), then keeps watching in the background. */
  async start(startTimeoutMs = 30_000): Promise<void> {
    const giveUpAt = Date.now() + startTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.relist();
        break;
      } catch (error) {
        const status = kubeStatus(error);
        if (!isTransientStatus(status) || Date.now() > giveUpAt) {
          throw toRuntimeError(error, { verb: 'list', resource: 'pods', namespace: this.options.namespace });
        }
        this.log.warn({ err: error, attempt }, 'listing pods failed; retrying');
        await this.sleep(this.delay(attempt));
      }
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.controller?.abort();
    this.endWatch?.();
    this.wakeSleep?.();
    await this.loop;
  }

  get(name: string): V1Pod | undefined {
    return this.pods.get(name);
  }

  all(): IterableIterator<V1Pod> {
    return this.pods.values();
  }

  onChange(listener: PodChange): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the Pod is no longer in the cache (its DELETED event, or a relist without it). */
  async waitGone(name: string, timeoutMs: number): Promise<boolean> {
    if (!this.pods.has(name)) return true;
    return new Promise((resolve) => {
      const waiters = this.goneWaiters.get(name) ?? new Set();
      this.goneWaiters.set(name, waiters);
      const done = (gone: boolean) => {
        clearTimeout(timer);
        waiters.delete(onGone);
        if (waiters.size === 0) this.goneWaiters.delete(name);
        resolve(gone);
      };
      const onGone = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      waiters.add(onGone);
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === null) await this.relist();
        const started = Date.now();
        const outcome = await this.watchOnce();
        if (outcome === 'stopped') return;
        if (outcome === 'gone') {
          this.stats.relistsAfterGone++;
          this.resourceVersion = null;
        }
        // A watch that ends at once (even with 410), again and again, must not become a busy loop.
        failures = outcome === 'stalled' || Date.now() - started < 1_000 ? failures + 1 : 0;
        if (outcome === 'stalled') {
          this.stats.stalls++;
          this.log.warn({ namespace: this.options.namespace }, 'pod watch stalled; restarting it');
        }
      } catch (error) {
        failures++;
        if (kubeStatus(error).code === 410) {
          this.stats.relistsAfterGone++;
          this.resourceVersion = null;
        } else {
          this.stats.errors++;
          this.log.warn({ err: error, failures }, `pod watch failed: ${describeError(error)}; retrying`);
        }
      }
      if (failures > 0) await this.sleep(this.delay(failures));
    }
  }

  private async relist(): Promise<void> {
    const { api, namespace, labelSelector } = this.options;
    const seen = new Map<string, V1Pod>();
    let cont: string | undefined;
    let version = '';
    do {
      this.stats.lists++;
      const page = await api.listNamespacedPod({
        namespace,
        labelSelector,
        limit: this.options.pageSize ?? 500,
        ...(cont ? { _continue: cont } : {}),
      });
      for (const pod of page.items) seen.set(pod.metadata!.name!, pod);
      cont = page.metadata?._continue || undefined;
      version = page.metadata?.resourceVersion ?? version;
    } while (cont);
    // What vanished while we were not watching was deleted; tell the listeners so.
    for (const [name, pod] of this.pods) {
      if (!seen.has(name)) this.apply(pod, true);
    }
    for (const pod of seen.values()) this.apply(pod, false);
    this.resourceVersion = version;
  }

  private watchOnce(): Promise<WatchOutcome> {
    const { watch, namespace, labelSelector } = this.options;
    const stallMs = this.options.stallMs ?? DEFAULT_STALL_MS;
    this.stats.watches++;
    this.controller = null;
    return new Promise<WatchOutcome>((resolve, reject) => {
      let outcome: WatchOutcome | null = null;
      let stallTimer: NodeJS.Timeout | undefined;
      let failure: unknown = null;
      const finish = (set: WatchOutcome) => {
        outcome ??= set;
        if (this.controller) return this.controller.abort();
        // No response headers yet, so client-node has not handed us the controller: give up on this
        // request now; `then` below aborts it should it ever answer. (API servers send headers as a
        // watch opens, so this is a server that accepted the connection and then hung.)
        clearTimeout(stallTimer);
        resolve(outcome);
      };
      const arm = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => finish('stalled'), stallMs);
      };
      arm();
      this.endWatch = () => {
        clearTimeout(stallTimer);
        resolve('stopped');
      };
      const query = {
        labelSelector,
        resourceVersion: this.resourceVersion ?? undefined,
        allowWatchBookmarks: true,
        timeoutSeconds: this.options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 60),
      };
      const onEvent = (type: string, object: unknown) => {
        if (outcome || this.stopped) return;
        arm();
        if (type === 'ERROR') {
          const status = object as { code?: number; message?: string };
          if (status.code === 410) return finish('gone');
          failure = Object.assign(new Error(`watch error: ${status.message ?? 'unknown'}`), { statusCode: status.code });
          return finish('closed');
        }
        const pod = object as V1Pod;
        const version = pod.metadata?.resourceVersion;
        if (version) this.resourceVersion = version;
        if (type === 'BOOKMARK') return;
        this.apply(pod, type === 'DELETED');
      };
      const onDone = (error: unknown) => {
        clearTimeout(stallTimer);
        if (this.stopped) return resolve('stopped');
        if (outcome === 'gone' || outcome === 'stalled') return resolve(outcome);
        // client-node's own inactivity timer (see makeWatch): silence, which is what a stall is.
        if (!failure && (error as { name?: unknown } | null)?.name === 'TimeoutError') return resolve('stalled');
        if (failure ?? error) return reject(failure ?? error);
        resolve('closed');
      };
      watch
        .watch(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, query, onEvent, onDone)
        .then((controller) => {
          this.controller = controller;
          if (this.stopped || outcome) controller.abort();
        })
        .catch(onDone);
    });
  }

  private apply(pod: V1Pod, deleted: boolean): void {
    const name = pod.metadata?.name;
    if (!name) return;
    if (deleted) {
      this.pods.delete(name);
      for (const waiter of this.goneWaiters.get(name) ?? []) waiter();
    } else {
      this.pods.set(name, pod);
    }
    for (const listener of this.listeners) listener(pod, deleted);
  }

  private delay(attempt: number): number {
    return backoffDelay(attempt, this.options.backoffBaseMs ?? 500, this.options.backoffMaxMs ?? 30_000, Math.random);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = done;
    });
  }
}
