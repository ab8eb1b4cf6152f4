import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { ObservedStatus, ProvisionResult } from '../../../machines/index.js';
import { RuntimeError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import type { WorkloadSpec } from '../../spec/index.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../exec.js';
import type { ProvisionContext, RuntimeEvent, RuntimeListener, WorkloadRuntime } from '../runtime.js';
import { kubeStatus, toRuntimeError } from './api-errors.js';
import { makeWatch } from './kube-config.js';
import { CONTAINER_NAME, LABELS, MANAGED_SELECTOR, MANAGER, buildPod, podName, type SandboxProfile } from './pod-manifest.js';
import { execInPod } from './pod-exec.js';
import { SESSION_KEEPER_ARGV } from '../../spec/session.js';
import { eventFor, observePod } from './pod-observation.js';
import { DEFAULT_STALL_MS, PodWatcher } from './pod-watcher.js';

export interface KubernetesRuntimeOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** Hardening for untrusted work; null runs Pods as their image says (trusted work). */
  readonly sandbox: SandboxProfile | null;
  /** Pod deletion grace period. */
  readonly graceSeconds?: number;
  /** How long past a workload's maximum lifetime Kubernetes waits before it ends the Pod itself. */
  readonly deadlineSlackSeconds?: number;
  readonly stallMs?: number;
  readonly watchTimeoutSeconds?: number;
  readonly backoffBaseMs?: number;
  readonly startTimeoutMs?: number;
  readonly log?: Logger;
}

/**
 * Workloads as Pods named `job-<id>`. One create and one delete per workload; everything else it
 * learns from one watch for all of them (see PodWatcher). Pods outlive the control plane, so after a
 * restart a running Pod is adopted, not torn down.
 */
export class KubernetesRuntime implements WorkloadRuntime {
  readonly name: string;
  readonly isolated: boolean;
  /** Pods outlive the control plane; any replica finds them by name and label. */
  readonly adoptable = true;
  private readonly api: CoreV1Api;
  private readonly watcher: PodWatcher;
  private readonly listeners = new Set<RuntimeListener>();
  /** What each workload's Pod last told its actor, so a Pod update that changes nothing sends nothing. */
  private readonly lastSeen = new Map<string, string>();
  /** Workloads whose Pod we are deleting: its disappearance is expected, not a loss. */
  private readonly deleting = new Set<string>();
  /** The uid of each Pod we created, until the watch has it: deletes are conditional on it. */
  private readonly createdUids = new Map<string, string>();
  private readonly log: Logger;
  private readonly graceSeconds: number;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly options: KubernetesRuntimeOptions) {
    this.name = options.sandbox ? 'kubernetes-sandbox' : 'kubernetes';
    this.isolated = options.sandbox !== null;
    this.log = options.log ?? silentLogger;
    this.graceSeconds = options.graceSeconds ?? 5;
    this.api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.watcher = new PodWatcher({
      api: this.api,
      // Twice the stall time, so that our stall detection, not client-node's timer, ends a quiet watch.
      watch: makeWatch(options.kubeConfig, 2 * (options.stallMs ?? DEFAULT_STALL_MS)),
      namespace: options.namespace,
      labelSelector: MANAGED_SELECTOR,
      log: this.log.child({ runtime: this.name }),
      ...(options.stallMs !== undefined ? { stallMs: options.stallMs } : {}),
      ...(options.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: options.watchTimeoutSeconds } : {}),
      ...(options.backoffBaseMs !== undefined ? { backoffBaseMs: options.backoffBaseMs } : {}),
    });
  }

  /** How often the watch listed, watched, stalled, got 410 Gone or failed (on /metrics). */
  stats(): Readonly<PodWatcher['stats']> {
    return this.watcher.stats;
  }

  unavailableReason(): string | null {
    return null;
  }

  async start(): Promise<void> {
    this.unsubscribe = this.watcher.onChange((pod, deleted) => this.onPod(pod, deleted));
    await this.watcher.start(this.options.startTimeoutMs);
    this.log.info({ runtime: this.name, namespace: this.options.namespace, pods: (await this.list()).length }, 'watching pods');
  }

  async provision(id: string, spec: WorkloadSpec, context: ProvisionContext = {}): Promise<ProvisionResult> {
    const { namespace } = this.options;
    const body = buildPod(id, spec, {
      namespace,
      sandbox: this.options.sandbox,
      deadlineSlackSeconds: this.options.deadlineSlackSeconds ?? 60,
      ...(context.env ? { env: context.env } : {}),
      ...(context.owner ? { owner: context.owner } : {}),
    });
    try {
      const created = await this.api.createNamespacedPod({ namespace, body });
      if (created.metadata?.uid) this.createdUids.set(id, created.metadata.uid);
      return { state: 'pending' };
    } catch (error) {
      if (kubeStatus(error).code !== 409) throw toRuntimeError(error, { verb: 'create', resource: 'pods', namespace });
      return this.claimExisting(id);
    }
  }

  async status(id: string): Promise<ObservedStatus> {
    // The watch can be a moment behind: a replica that takes over a shard right after its old
    // owner created a Pod may not have seen it yet, and "not found" would end a running workload
    // `lost`. The API server decides before we say so.
    const pod = this.watcher.get(podName(id)) ?? (await this.readPod(id));
    if (!pod || !isOurs(pod, id)) return { state: 'notFound' };
    if (pod.metadata?.deletionTimestamp) return { state: 'exited', detail: 'the Pod is being deleted' };
    return observePod(pod);
  }

  private async readPod(id: string): Promise<V1Pod | undefined> {
    const { namespace } = this.options;
    try {
      return await this.api.readNamespacedPod({ name: podName(id), namespace });
    } catch (error) {
      if (kubeStatus(error).code === 404) return undefined;
      throw toRuntimeError(error, { verb: 'get', resource: 'pods', namespace });
    }
  }

  async teardown(id: string): Promise<void> {
    const { namespace } = this.options;
    const name = podName(id);
    const cached = this.watcher.get(name);
    // Only a Pod we know to be ours, and only that very Pod (by uid): a Pod of the same name that
    // someone else made, or made again, is never deleted. The watch knows every Pod of ours.
    const uid = (cached && isOurs(cached, id) ? cached.metadata?.uid : undefined) ?? this.createdUids.get(id);
    if (!uid) return;
    this.deleting.add(id);
    try {
      await this.api.deleteNamespacedPod({
        name,
        namespace,
        gracePeriodSeconds: this.graceSeconds,
        body: { preconditions: { uid } },
      });
    } catch (error) {
      // 404: already gone; 409: the name now belongs to another Pod, so ours is gone too.
      const code = kubeStatus(error).code;
      if (code === 409) return this.forget(id);
      if (code !== 404) {
        this.deleting.delete(id);
        throw toRuntimeError(error, { verb: 'delete', resource: 'pods', namespace });
      }
    }
    // Torn down means gone: wait for the watch to see it, which costs no API call.
    const gone = await this.watcher.waitGone(name, (this.graceSeconds + 30) * 1000);
    if (!gone) {
      throw new RuntimeError('POD_STILL_TERMINATING', `Pod ${name} is still terminating ${this.graceSeconds + 30}s after deletion`, {
        transient: true,
      });
    }
    this.forget(id);
  }

  private forget(id: string): void {
    this.deleting.delete(id);
    this.lastSeen.delete(id);
    this.createdUids.delete(id);
  }

  watch(listener: RuntimeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async list(): Promise<string[]> {
    const ids: string[] = [];
    for (const pod of this.watcher.all()) {
      const id = pod.metadata?.labels?.[LABELS.workloadId];
      if (id && isOurs(pod, id)) ids.push(id);
    }
    return ids;
  }

  async logs(id: string): Promise<string | null> {
    const { namespace } = this.options;
    if (!this.watcher.get(podName(id))) return null;
    try {
      return await this.api.readNamespacedPodLog({
        name: podName(id),
        namespace,
        container: CONTAINER_NAME,
        limitBytes: 64 * 1024,
      });
    } catch (error) {
      const code = kubeStatus(error).code;
      // 404: already gone; 400: the container has not started, so there is nothing to read yet.
      if (code === 404 || code === 400) return null;
      throw toRuntimeError(error, { verb: 'get', resource: 'pods/log', namespace });
    }
  }

  /**
   * Runs a command in the workload's container through `pods/exec` (see pod-exec.ts). Only in a Pod
   * that carries this workload's labels: a Pod of the same name that leasehold did not make is
   * never exec'd into.
   */
  async exec(id: string, request: ExecRequest, output: ExecOutput, signal: AbortSignal): Promise<ExecResult> {
    const { namespace } = this.options;
    const name = podName(id);
    let pod = this.watcher.get(name);
    // The watch can be a moment behind a Pod that has just started: the API server decides before we refuse.
    if (pod?.status?.phase !== 'Running') pod = await this.readPod(id);
    if (!pod) throw new RuntimeError('WORKLOAD_NOT_FOUND', `cannot exec in workload ${id}: there is no Pod ${name} in namespace ${namespace}`);
    if (!isOurs(pod, id)) {
      throw new RuntimeError(
        'POD_NOT_OURS',
        `cannot exec in workload ${id}: the Pod ${name} in namespace ${namespace} was not made by leasehold for this workload`,
      );
    }
    if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) {
      const state = pod.metadata?.deletionTimestamp ? 'being deleted' : (pod.status?.phase ?? 'unknown');
      throw new RuntimeError('WORKLOAD_NOT_RUNNING', `cannot exec in workload ${id}: its Pod ${name} is ${state}, not Running`);
    }
    // A session's keeper is /bin/sh: there a cancelled or timed-out command can be found and killed.
    const command = pod.spec?.containers.find((c) => c.name === CONTAINER_NAME)?.command ?? [];
    const shell = command.length === SESSION_KEEPER_ARGV.length && command.every((arg, i) => arg === SESSION_KEEPER_ARGV[i]);
    return execInPod(this.options.kubeConfig, { namespace, pod: name, container: CONTAINER_NAME, shell }, request, output, signal);
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.watcher.stop();
    this.listeners.clear();
  }

  /** A create answered 409: fine if the Pod is this workload's (a retried create), an error if not. */
  private async claimExisting(id: string): Promise<ProvisionResult> {
    const { namespace } = this.options;
    const name = podName(id);
    let pod = this.watcher.get(name);
    if (!pod) {
      try {
        pod = await this.api.readNamespacedPod({ name, namespace });
      } catch (error) {
        throw toRuntimeError(error, { verb: 'get', resource: 'pods', namespace });
      }
    }
    if (!isOurs(pod, id)) {
      throw new RuntimeError(
        'POD_NAME_TAKEN',
        `a Pod named ${name} already exists in namespace ${namespace} and leasehold did not create it; submit under another id`,
      );
    }
    const observed = observePod(pod);
    if (observed.state === 'exited') queueMicrotask(() => this.notify(id, pod, true));
    return { state: observed.state === 'running' ? 'running' : 'pending' };
  }

  private onPod(pod: V1Pod, deleted: boolean): void {
    const id = pod.metadata?.labels?.[LABELS.workloadId];
    if (!id || !isOurs(pod, id)) return;
    if (deleted) {
      this.lastSeen.delete(id);
      if (!this.deleting.has(id)) this.emit(id, { type: 'runtime.lost', detail: `Pod ${podName(id)} was deleted, not by leasehold` });
      return;
    }
    this.notify(id, pod, false);
  }

  private notify(id: string, pod: V1Pod, force: boolean): void {
    if (this.deleting.has(id)) return;
    let event: RuntimeEvent | null;
    if (pod.metadata?.deletionTimestamp) {
      event = { type: 'runtime.lost', detail: `Pod ${podName(id)} is being deleted, not by leasehold` };
    } else {
      event = eventFor(observePod(pod));
    }
    if (!event) return;
    const key = JSON.stringify(event);
    if (!force && this.lastSeen.get(id) === key) return;
    this.lastSeen.set(id, key);
    this.emit(id, event);
  }

  private emit(id: string, event: RuntimeEvent): void {
    for (const listener of this.listeners) listener(id, event);
  }
}

function isOurs(pod: V1Pod, id: string): boolean {
  const labels = pod.metadata?.labels ?? {};
  return labels[LABELS.managedBy] === MANAGER && labels[LABELS.workloadId] === id;
}
