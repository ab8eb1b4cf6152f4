import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { ObservedStatus } from '../../../machines/index.js';
import type { RuntimeEvent } from '../runtime.js';
import { CONTAINER_NAME } from './pod-manifest.js';

/**
 * What a Pod's status means for its workload. Pending carries the reason it is not running yet
 * (`ErrImagePull`, `Unschedulable`), because that is what a user needs to see when it never starts.
 */
export function observePod(pod: V1Pod): ObservedStatus {
  const phase = pod.status?.phase ?? 'Pending';
  const container = workloadContainer(pod);
  switch (phase) {
    case 'Running':
      return { state: 'running', adoptable: true };
    case 'Succeeded':
    case 'Failed': {
      const terminated = container?.state?.terminated;
      const detail = phase === 'Failed' ? failureDetail(pod, container) : undefined;
      return {
        state: 'exited',
        ...(terminated ? { exitCode: terminated.exitCode } : {}),
        ...(detail ? { detail } : {}),
      };
    }
    default: {
      // Pending, and Unknown (the node stopped reporting): not running as far as anyone can tell.
      const detail = waitingDetail(pod, container);
      return detail ? { state: 'pending', detail } : { state: 'pending' };
    }
  }
}

/** The event a change of Pod status sends to the workload's actor; null when nothing it acts on changed. */
export function eventFor(observed: ObservedStatus): RuntimeEvent | null {
  switch (observed.state) {
    case 'running':
      return { type: 'runtime.running' };
    case 'pending':
      return observed.detail ? { type: 'runtime.waiting', detail: observed.detail } : null;
    case 'exited':
      if (observed.exitCode === undefined) {
        // Ended without a container exit code: evicted, or killed at activeDeadlineSeconds.
        return { type: 'runtime.failed', error: observed.detail ?? 'the Pod failed' };
      }
      return {
        type: 'runtime.exited',
        exitCode: observed.exitCode,
        ...(observed.detail ? { detail: observed.detail } : {}),
      };
    case 'notFound':
      return { type: 'runtime.lost', detail: 'the Pod is gone' };
  }
}

function workloadContainer(pod: V1Pod): V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === CONTAINER_NAME) ?? statuses[0];
}

function waitingDetail(pod: V1Pod, container: V1ContainerStatus | undefined): string | undefined {
  const waiting = container?.state?.waiting;
  if (waiting?.reason && waiting.reason !== 'ContainerCreating') {
    return joinReason(waiting.reason, waiting.message);
  }
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) return joinReason(unscheduled.reason ?? 'Unschedulable', unscheduled.message);
  if (pod.status?.phase === 'Unknown') return joinReason(pod.status.reason ?? 'Unknown', pod.status.message);
  return undefined; // scheduling, creating the container: the normal way to start, nothing to report
}

function failureDetail(pod: V1Pod, container: V1ContainerStatus | undefined): string | undefined {
  const terminated = container?.state?.terminated;
  if (terminated?.reason && terminated.reason !== 'Error') return joinReason(terminated.reason, terminated.message);
  if (pod.status?.reason) return joinReason(pod.status.reason, pod.status.message);
  return terminated?.message ?? undefined;
}

function joinReason(reason: string, message: string | undefined): string {
  return message ? `${reason}: ${message}` : reason;
}
