import type { NatsConnection } from '@nats-io/transport-node';
import type { EndReason, WorkloadType } from '../../machines/index.js';
import { parseTransition } from '../events/messages.js';
import type { Subjects, TransitionMessage, WorkloadStatus } from '../events/transition.js';
import type { ControlRequests } from './control-requests.js';
import { CallDeadline, type CallOptions } from './deadline.js';

/** How a workload ended. */
export interface WorkloadEnd {
  readonly id: string;
  readonly type: WorkloadType;
  readonly reason: EndReason;
  /** The workload's exit code, where it exited (a cancelled or lost one may have none). */
  readonly exitCode?: number;
  readonly error?: string;
  readonly seq: number;
}

/**
 * Between two status reads while waiting: the `tornDown` transition is what ends a wait, and a
 * status read only covers what core NATS can lose (a transition published while the connection
 * was down, or before this subscription was made). One small request every few seconds.
 */
const STATUS_EVERY_MS = 5_000;

/**
 * Resolves with the workload's end. Listens for its `tornDown` and asks for its status once the
 * subscription is made (it may have ended before), after every reconnect, and every few seconds.
 * An id not known yet is waited for (it may still be in the queue), until the deadline.
 */
export async function waitForEnd(nc: NatsConnection, subjects: Subjects, control: ControlRequests, id: string, options: CallOptions): Promise<WorkloadEnd> {
  let ended: (end: WorkloadEnd) => void = () => undefined;
  const end = new Promise<WorkloadEnd>((resolve) => (ended = resolve));
  const subscription = nc.subscribe(subjects.transition(id, 'tornDown'), {
    callback: (error, msg) => {
      const t = error ? null : parseTransition(msg.data, msg.subject, subjects);
      if (t) ended(fromTransition(t));
    },
  });
  const statuses = nc.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
  let lastState = 'unknown to the control plane';
  const deadline = new CallDeadline(options, () => Promise.resolve(`gave up waiting for ${id} after ${options.timeoutMs} ms: it is ${lastState}`));
  const check = async () => {
    const status = await control.status(id).catch(() => null);
    if (status) lastState = status.state;
    if (status?.state === 'tornDown') ended(fromStatus(status));
  };
  void (async () => {
    for await (const status of statuses) if (status.type === 'reconnect') await check();
  })();
  try {
    await nc.flush();
    const polling = (async () => {
      let first = true;
      while (!deadline.isOver) {
        if (!first && (await deadline.pause(STATUS_EVERY_MS, end))) return;
        first = false;
        await check();
      }
    })();
    polling.catch(() => undefined); // it stops by itself once the end is known
    return await Promise.race([end, deadline.stopped]);
  } finally {
    subscription.unsubscribe();
    statuses.stop?.();
    deadline.dispose();
  }
}

function fromTransition(t: TransitionMessage): WorkloadEnd {
  return withDefined({ id: t.id, type: t.type, reason: t.reason ?? 'completed', exitCode: t.exitCode, error: t.error, seq: t.seq });
}

function fromStatus(s: WorkloadStatus): WorkloadEnd {
  return withDefined({ id: s.id, type: s.type, reason: s.reason ?? 'completed', exitCode: s.exitCode, error: s.error, seq: s.seq });
}

function withDefined(end: { [K in keyof WorkloadEnd]: WorkloadEnd[K] | undefined }): WorkloadEnd {
  return Object.fromEntries(Object.entries(end).filter(([, value]) => value !== undefined)) as unknown as WorkloadEnd;
}
