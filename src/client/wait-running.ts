import type { NatsConnection } from '@nats-io/transport-node';
import type { Subjects, WorkloadStatus } from '../events/transition.js';
import type { ControlRequests } from './control-requests.js';
import { CallDeadline, type CallOptions } from './deadline.js';
import { SessionEndedError } from './errors.js';

/** Between two status reads: a transition wakes the wait at once; this only covers lost ones. */
const STATUS_EVERY_MS = 1_000;

/**
 * Resolves with the status of `id` once it is `running`; rejects with a {@link SessionEndedError}
 * if it ends (`expiring`, `tornDown`) first. Any transition of it wakes a status read, so the wait
 * ends on the transition, not on the next poll.
 */
export async function waitUntilRunning(
  nc: NatsConnection,
  subjects: Subjects,
  control: ControlRequests,
  id: string,
  options: CallOptions,
  onState: (state: string) => void = () => undefined,
): Promise<WorkloadStatus> {
  let wake: () => void = () => undefined;
  const nextWake = () => new Promise<void>((resolve) => (wake = resolve));
  let woken = nextWake();
  const subscription = nc.subscribe(subjects.watch(id), { callback: () => wake() });
  let lastState = 'unknown to the control plane';
  const deadline = new CallDeadline(options, () => Promise.resolve(`gave up waiting for ${id} to run after ${options.timeoutMs} ms: it is ${lastState}`));
  try {
    await nc.flush();
    const watching = (async (): Promise<WorkloadStatus> => {
      for (;;) {
        const status = await control.status(id);
        if (status && status.state !== lastState) onState((lastState = status.state));
        if (status?.state === 'running') return status;
        if (status?.state === 'expiring' || status?.state === 'tornDown') {
          const why = status.reason ? ` (${status.reason}${status.error ? `: ${status.error}` : ''})` : '';
          throw new SessionEndedError(id, `${id} ended before it was running${why}`, status.state, status.reason);
        }
        const current = woken;
        await deadline.pause(STATUS_EVERY_MS, current);
        if (deadline.isOver) return await deadline.stopped;
        woken = nextWake();
      }
    })();
    return await Promise.race([watching, deadline.stopped]);
  } finally {
    subscription.unsubscribe();
    deadline.dispose();
  }
}
