import type { NatsConnection } from '@nats-io/transport-node';
import type { LifecycleState } from '../../machines/index.js';
import type { Logger } from '../log.js';
import type { LogWindow } from '../runtime/runtime.js';
import { parseCancelReply, parseLogsReply } from './messages.js';
import { SUBJECTS, type Subjects } from './transition.js';

/** How long to wait for the owning replica to answer a forwarded request. */
const FORWARD_TIMEOUT_MS = 3_000;

/**
 * The replicas' own conversation on NATS: forwarding cancel and logs to a workload's owner, and
 * telling owners that entries wait in their shards' inboxes. Both subjects are for the control
 * plane's identity only (manifests/nats.conf).
 */
export class NatsPeers {
  private nc: NatsConnection | null = null;

  constructor(
    private readonly log: Logger,
    /** This installation's: a peer of another installation with the same replica id is not ours. */
    private readonly subjects: Subjects = SUBJECTS,
  ) {}

  attach(nc: NatsConnection): void {
    this.nc = nc;
  }

  async cancel(replicaId: string, id: string): Promise<{ ok: boolean; state?: LifecycleState; error?: string } | null> {
    const data = await this.request(this.subjects.replica(replicaId, 'cancel', id));
    const reply = data && parseCancelReply(data);
    if (!reply) return null;
    return reply.ok ? reply.value : { ok: false, error: reply.error };
  }

  async logs(replicaId: string, id: string): Promise<string | null> {
    const data = await this.request(this.subjects.replica(replicaId, 'logs', id));
    const reply = data && parseLogsReply(data, id);
    return reply?.ok ? reply.value.logs : null;
  }

  /** The output from byte `from` on, from the replica that runs the workload; null without offsets. */
  async logsFrom(replicaId: string, id: string, from: number): Promise<LogWindow | null> {
    const data = await this.request(this.subjects.replica(replicaId, 'logs', id), JSON.stringify({ from }));
    const reply = data && parseLogsReply(data, id);
    if (!reply?.ok || reply.value.start === undefined || reply.value.end === undefined) return null;
    return { start: reply.value.start, end: reply.value.end, text: reply.value.logs };
  }

  /** Owners drain these shards' inboxes now rather than at their next poll. */
  nudgeInbox(shards: readonly number[]): void {
    try {
      this.nc?.publish(this.subjects.inboxNudge, JSON.stringify(shards));
    } catch {
      // The owners poll their inboxes anyway.
    }
  }

  private async request(subject: string, body = ''): Promise<Uint8Array | null> {
    if (!this.nc) return null;
    try {
      return (await this.nc.request(subject, body, { timeout: FORWARD_TIMEOUT_MS })).data;
    } catch (error) {
      this.log.warn({ err: error, subject }, 'the owning replica did not answer a forwarded request');
      return null;
    }
  }
}
