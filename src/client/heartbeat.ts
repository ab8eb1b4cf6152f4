import { z } from 'zod';
import { LIFECYCLE_STATES } from '../../machines/index.js';
import type { Reply } from '../events/messages.js';

const heartbeatReply = z.object({
  ok: z.boolean(),
  error: z.string().max(2_000).optional(),
  state: z.enum(LIFECYCLE_STATES).optional(),
});
export type HeartbeatAnswer = z.infer<typeof heartbeatReply>;

/**
 * An answer to `leasehold.heartbeat.<id>`: `{ok: true}`, or `{ok: false, error, state?}`. A bare
 * `{error}` (busy, a failed request) is a refusal; anything else is junk (null).
 */
export function parseHeartbeatReply(data: Uint8Array): Reply<HeartbeatAnswer> | null {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return null;
  }
  const answer = heartbeatReply.safeParse(body);
  if (answer.success) return { ok: true, value: answer.data };
  const refusal = z.object({ error: z.string().max(2_000) }).safeParse(body);
  return refusal.success ? { ok: false, error: refusal.data.error } : null;
}
