import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../log.js';
import { DEFAULT_EXEC_LIMITS, EXEC_HEADERS, ExecRequestBodySchema, type ExecHandler, type ExecLimits, type ExecRequestBody } from './exec-protocol.js';
import { ExecAnswers, runExecSession } from './exec-session.js';
import { CONTROL_QUEUE_GROUP, SUBJECTS, type Subjects } from './transition.js';

const INBOX_PREFIX = '_INBOX.';
/** How long a replica waits for the owner to take a forwarded exec before telling the asker. */
const FORWARD_TIMEOUT_MS = 3_000;

/**
 * Serves `leasehold.exec.<id>` (see exec-protocol.ts). Requests arrive in the control plane's
 * queue group, so at any replica; one for a workload another replica owns is forwarded to that
 * replica, which then answers the asker's inbox itself: the output never passes through a second
 * replica (no doubled traffic, no relay that could die mid-stream), and stdin goes straight to
 * the owner's input subscription. The forwarding replica only waits for the owner to say it took
 * the request, and tells the asker the workload is moving when it does not.
 */
export class NatsExecServer {
  private subscriptions: Subscription[] = [];
  private stopping = new AbortController();
  private readonly running = new Map<string, number>();
  private total = 0;
  /** Requests being routed (a Redis read each, for a workload not driven here). */
  private routing = 0;
  private readonly sessions = new Set<Promise<void>>();
  /** Requests not answered because of their reply subject. */
  ignored = 0;

  constructor(
    private readonly handler: ExecHandler,
    private readonly log: Logger,
    private readonly replicaId: string | null = null,
    private readonly subjects: Subjects = SUBJECTS,
    private readonly limits: ExecLimits = DEFAULT_EXEC_LIMITS,
  ) {}

  /** Execs running on this replica now. */
  get active(): number {
    return this.total;
  }

  /** Serves on `nc`; called again with a new connection, it serves there instead. */
  start(nc: NatsConnection): void {
    this.unsubscribe();
    const prefix = this.subjects.exec('');
    this.subscriptions.push(
      nc.subscribe(this.subjects.exec('*'), {
        queue: CONTROL_QUEUE_GROUP,
        callback: (error, msg) => {
          if (!error) void this.serve(nc, msg, msg.subject.slice(prefix.length), msg.reply, false);
        },
      }),
    );
    if (this.replicaId === null) return;
    const forwardedPrefix = this.subjects.replica(this.replicaId, 'exec', '');
    this.subscriptions.push(
      nc.subscribe(this.subjects.replica(this.replicaId, 'exec', '*'), {
        callback: (error, msg) => {
          if (!error) void this.serve(nc, msg, msg.subject.slice(forwardedPrefix.length), msg.headers?.get(EXEC_HEADERS.replyTo), true);
        },
      }),
    );
  }

  /**
   * Stops serving, and cancels every exec running here; resolves once each asker has been sent
   * its final message (or after `graceMs`), so that it leaves before the connection is closed.
   */
  async stop(graceMs = 2_000): Promise<void> {
    this.unsubscribe();
    this.stopping.abort();
    this.stopping = new AbortController();
    if (this.sessions.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.sessions]), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  private unsubscribe(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.subscriptions = [];
  }

  private async serve(nc: NatsConnection, msg: Msg, id: string, inbox: string | undefined, forwarded: boolean): Promise<void> {
    // The asker picks the reply subject and we publish there with our permissions: inboxes only (control-gate.ts).
    if (!inbox?.startsWith(INBOX_PREFIX)) {
      this.ignored++;
      if (this.ignored === 1 || this.ignored % 10_000 === 0) {
        this.log.warn({ subject: msg.subject.slice(0, 200), reply: (inbox ?? '').slice(0, 200), ignored: this.ignored }, 'ignored an exec request whose reply subject is not an _INBOX. inbox');
      }
      return;
    }
    // The forwarding peer only waits to know the owner has it; from here the owner answers the asker.
    if (forwarded) msg.respond('{"ok":true}');
    const answers = new ExecAnswers(nc, inbox, this.limits.maxUnflushedBytes);
    const body = this.parse(msg.data);
    if (typeof body === 'string') return answers.error('INVALID_REQUEST', body);
    // A flood of requests for ids not driven here is a flood of Redis reads: bounded like the rest.
    if (this.routing >= this.limits.maxPerReplica) return answers.error('BUSY', 'too many exec requests at once; try again');
    let route;
    this.routing++;
    try {
      route = await this.handler.execRoute(id, { forwarded });
    } catch (error) {
      this.log.warn({ err: error, workload: id }, 'could not route an exec request');
      return answers.error('FAILED', `could not route the exec: ${String(error)}`);
    } finally {
      this.routing--;
    }
    if ('error' in route) return answers.error(route.code, route.error);
    if ('owner' in route) return this.forward(nc, msg, route.owner, id, inbox, answers);
    const here = this.running.get(id) ?? 0;
    if (here >= this.limits.maxPerWorkload || this.total >= this.limits.maxPerReplica) {
      const which = here >= this.limits.maxPerWorkload ? `${this.limits.maxPerWorkload} execs already run in workload ${id}` : `${this.limits.maxPerReplica} execs already run on this replica`;
      return answers.error('BUSY', `${which}; try again when one ends`);
    }
    this.running.set(id, here + 1);
    this.total++;
    const session = runExecSession({ nc, subjects: this.subjects, id, body, run: route.run, answers, limits: this.limits, log: this.log, stopped: this.stopping.signal });
    this.sessions.add(session);
    try {
      await session;
    } finally {
      this.sessions.delete(session);
      this.total--;
      const left = (this.running.get(id) ?? 1) - 1;
      if (left === 0) this.running.delete(id);
      else this.running.set(id, left);
    }
  }

  private parse(data: Uint8Array): ExecRequestBody | string {
    if (data.length > this.limits.maxRequestBytes) return `the exec request is larger than ${this.limits.maxRequestBytes} bytes`;
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(data).toString('utf8'));
    } catch {
      return 'the exec request is not JSON';
    }
    const parsed = ExecRequestBodySchema.safeParse(json);
    if (parsed.success) return parsed.data;
    return parsed.error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`).join('; ');
  }

  /** Hands the request to the owner, which answers the asker; tells the asker if the owner did not take it. */
  private async forward(nc: NatsConnection, msg: Msg, owner: string, id: string, inbox: string, answers: ExecAnswers): Promise<void> {
    const h = natsHeaders();
    h.set(EXEC_HEADERS.replyTo, inbox);
    try {
      await nc.request(this.subjects.replica(owner, 'exec', id), msg.data, { headers: h, timeout: FORWARD_TIMEOUT_MS });
    } catch (error) {
      this.log.warn({ err: error, workload: id, owner }, 'the owning replica did not take a forwarded exec');
      answers.error('MOVING', `workload ${id} is changing owner (a replica stopped or joined); try again in a few seconds`);
    }
  }
}
