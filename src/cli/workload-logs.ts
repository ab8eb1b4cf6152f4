import type { NatsConnection } from '@nats-io/transport-node';
import { parseLogsReply } from '../events/messages.js';
import { SUBJECTS, type Subjects } from '../events/transition.js';
import { request } from './clients.js';
import { formatDataItem, type OutputFormat } from './output.js';
import { forStream } from './terminal.js';

/** The output the control plane holds for `id` now; null when it has none (yet, or ever). */
export async function fetchLogs(nc: NatsConnection, id: string, subjects: Subjects = SUBJECTS): Promise<{ logs: string | null; refusal: string | null }> {
  const reply = await request(nc, subjects.logs(id), `logs ${id}`, (data) => parseLogsReply(data, id));
  return reply.ok ? { logs: reply.value.logs, refusal: null } : { logs: null, refusal: reply.error };
}

/** The output from byte `from` on; `start`/`end` are absent when the control plane keeps no offsets (an older version, or a Pod's log). */
export async function fetchLogsFrom(
  nc: NatsConnection,
  id: string,
  from: number,
  subjects: Subjects = SUBJECTS,
): Promise<{ logs: string | null; start?: number; end?: number; refusal: string | null }> {
  const reply = await request(nc, subjects.logs(id), `logs ${id}`, (data) => parseLogsReply(data, id), JSON.stringify({ from }));
  if (!reply.ok) return { logs: null, refusal: reply.error };
  const { logs, start, end } = reply.value;
  return start !== undefined && end !== undefined ? { logs, start, end, refusal: null } : { logs, refusal: null };
}

/**
 * Writes output as text (byte for byte to a pipe, escaped on a terminal: see terminal.ts) or as
 * data, one item per piece.
 */
export function writeLogs(id: string, text: string, output: OutputFormat): void {
  if (text === '') return;
  process.stdout.write(output === 'text' ? forStream(text, process.stdout) : formatDataItem({ kind: 'logs', id, logs: text }, output));
}

