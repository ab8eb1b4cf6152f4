import { PermissionViolationError, type NatsConnection, type Status } from '@nats-io/transport-node';
import { parseCancelReply, parseLogsReply, parseStatusReply, type Reply } from '../events/messages.js';
import type { Subjects, WorkloadStatus } from '../events/transition.js';
import type { LifecycleState } from '../../machines/index.js';
import { CancelRefusedError, ControlPlaneUnavailableError, NatsPermissionError, SessionEndedError, WorkloadNotFoundError } from './errors.js';
import { parseHeartbeatReply } from './heartbeat.js';

/**
 * The control plane's request/reply protocol on NATS (`leasehold.status|cancel|logs.<id>`), as the
 * CLI speaks it, with typed errors. Every reply is shape-checked: junk, or an answer about another
 * workload, is an error, never a value handed to the program as if the control plane said it.
 */
export class ControlRequests {
  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly timeoutMs: number,
  ) {}

  /** Where `id` is now; null when the control plane knows no such workload. */
  async status(id: string): Promise<WorkloadStatus | null> {
    const reply = await this.ask(this.subjects.status(id), `status ${id}`, (data) => {
      const parsed = parseStatusReply(data, id);
      // `{error, state, …}` is a status that failed its shape check, not a refusal: its error is the workload's.
      return parsed && !parsed.ok && carriesState(data) ? null : parsed;
    });
    if (reply.ok) return reply.value;
    if (reply.error === notFound(id)) return null;
    throw new ControlPlaneUnavailableError(`the control plane could not answer status ${id}: ${reply.error}`);
  }

  /** Asks the owner to end `id`; resolves with the state it was in. */
  async cancel(id: string): Promise<{ state: LifecycleState | undefined }> {
    const reply = await this.ask(this.subjects.cancel(id), `cancel ${id}`, parseCancelReply);
    if (!reply.ok) throw new ControlPlaneUnavailableError(`the control plane could not answer cancel ${id}: ${reply.error}`);
    const { ok, state, error } = reply.value;
    if (ok) return { state };
    if (error === notFound(id)) throw new WorkloadNotFoundError(id);
    throw new CancelRefusedError(id, error ?? `could not cancel ${id}`, state);
  }

  /** The output the control plane holds for `id`; null when it holds none (yet, or any more). */
  async logs(id: string): Promise<string | null> {
    const reply = await this.ask(this.subjects.logs(id), `logs ${id}`, (data) => parseLogsReply(data, id));
    if (reply.ok) return reply.value.logs;
    if (reply.error === notFound(id)) return null;
    throw new ControlPlaneUnavailableError(`the control plane could not answer logs ${id}: ${reply.error}`);
  }

  /**
   * Renews the lease of running workload `id` (a session's holder keeps it alive so), through
   * whichever replica answers. A workload that is no longer running is a {@link SessionEndedError}.
   */
  async heartbeat(id: string): Promise<void> {
    const reply = await this.ask(this.subjects.heartbeat(id), `heartbeat ${id}`, parseHeartbeatReply);
    if (!reply.ok) throw new ControlPlaneUnavailableError(`the control plane could not answer heartbeat ${id}: ${reply.error}`);
    const { ok, error, state } = reply.value;
    if (ok) return;
    if (error === notFound(id)) throw new WorkloadNotFoundError(id);
    throw new SessionEndedError(id, error ?? `${id} is not running`, state);
  }

  private async ask<T>(subject: string, what: string, parse: (data: Uint8Array) => Reply<T> | null): Promise<Reply<T>> {
    const permission = permissionRefusal(this.nc, subject);
    let data: Uint8Array;
    try {
      data = (await Promise.race([this.nc.request(subject, '', { timeout: this.timeoutMs }), permission.refused])).data;
    } catch (error) {
      if (error instanceof NatsPermissionError) throw error;
      const refusal = [error, (error as { cause?: unknown } | null)?.cause].find((e) => e instanceof PermissionViolationError);
      if (refusal) throw new NatsPermissionError(refusal.subject, refusal.operation === 'publish' ? 'publish' : 'subscribe');
      const reason = error instanceof Error ? error.message : String(error);
      throw new ControlPlaneUnavailableError(`no control plane answered ${what} (${reason})`, error);
    } finally {
      permission.stop();
    }
    const reply = parse(data);
    if (!reply) throw new ControlPlaneUnavailableError(`the answer to ${what} is not a well-formed control-plane reply`);
    return reply;
  }
}

/** The control plane's words for an id it does not know (nats-bus.ts, control-queries.ts). */
const notFound = (id: string) => `no workload ${id}`;

function carriesState(data: Uint8Array): boolean {
  try {
    const body = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return typeof body === 'object' && body !== null && 'state' in body;
  } catch {
    return false;
  }
}

/**
 * Rejects as soon as the server refuses this connection the request's subject or its inbox: nats.js
 * reports that asynchronously, and without this the call would only time out, saying nobody
 * answered when in fact it was not allowed to ask.
 */
function permissionRefusal(nc: NatsConnection, subject: string): { refused: Promise<never>; stop(): void } {
  const statuses = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  const refused = new Promise<never>((_, reject) => {
    void (async () => {
      for await (const status of statuses) {
        if (status.type !== 'error' || !(status.error instanceof PermissionViolationError)) continue;
        const { subject: denied, operation } = status.error;
        if (denied !== subject && !denied.startsWith('_INBOX.')) continue;
        reject(new NatsPermissionError(denied, operation === 'publish' ? 'publish' : 'subscribe'));
        return;
      }
    })();
  });
  refused.catch(() => undefined);
  return { refused, stop: () => statuses.stop?.() };
}
