import type { NatsConnection } from '@nats-io/transport-node';
import { parseStatusReply, type Reply } from '../events/messages.js';
import { SUBJECTS, type Subjects, type WorkloadStatus } from '../events/transition.js';
import { request } from './clients.js';

/**
 * A status answer for `id`. A refusal is `{error}` and nothing else: a body that also names a
 * `state` is a status that failed its shape check (a newer control plane, a bug), and its
 * `error` field is the workload's error, not a reason the control plane refused to answer.
 */
export function parseStatusAnswer(data: Uint8Array, id: string): Reply<WorkloadStatus> | null {
  const reply = parseStatusReply(data, id);
  if (reply && !reply.ok && carriesState(data)) return null;
  return reply;
}

function carriesState(data: Uint8Array): boolean {
  try {
    const body = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return typeof body === 'object' && body !== null && 'state' in body;
  } catch {
    return false;
  }
}

/** Where `id` is now; null when the control plane does not know it, nobody answers, or the answer is junk. */
export async function askStatus(nc: NatsConnection, id: string, subjects: Subjects = SUBJECTS): Promise<WorkloadStatus | null> {
  const reply = await request(nc, subjects.status(id), `status ${id}`, (data) => parseStatusAnswer(data, id)).catch(() => null);
  return reply?.ok ? reply.value : null;
}
