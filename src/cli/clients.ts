import { PermissionViolationError, type NatsConnection, type Status, type Subscription } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { ConfigError, LeaseholdError } from '../errors.js';
import { parseTransition, type Reply } from '../events/messages.js';
import type { NatsTarget } from '../events/nats-auth.js';
import { dialNats, type DialOptions } from '../events/nats-connect.js';
import { SUBJECTS, type Subjects, type TransitionMessage, type WorkloadStatus } from '../events/transition.js';
import { redactUrl, redactUrlsIn } from '../redact.js';
import { checkRedisUrl } from '../server-urls.js';
import { CliError } from './cli-error.js';
import { formatStatus, formatTransition } from './format.js';
import { formatDataItem, type OutputFormat } from './output.js';

/** Short-lived connections for one CLI command; failures say which server and how to fix it. */
export async function openNats(target: NatsTarget, dial: DialOptions = { name: 'leasehold-cli', reconnect: false }): Promise<NatsConnection> {
  try {
    return await dialNats(target, dial);
  } catch (error) {
    if (error instanceof LeaseholdError && error.code === 'NATS_UNREACHABLE') {
      throw new CliError(`${error.message}; is NATS running? Set --nats or NATS_URL`);
    }
    // A configuration mistake keeps its exit code (2): retrying cannot fix it.
    if (error instanceof LeaseholdError && !(error instanceof ConfigError)) throw new CliError(error.message);
    throw error;
  }
}

export async function openRedis(url: string): Promise<Redis> {
  checkRedisUrl(url);
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return redis;
  } catch (error) {
    redis.disconnect();
    throw new CliError(`cannot reach Redis at ${redactUrl(url)} (${redactUrlsIn(String(error))}); set --redis or REDIS_URL`);
  }
}

function permissionError(error: PermissionViolationError, what: string): CliError {
  const verb = error.operation === 'publish' ? 'publish' : 'subscribe';
  return new CliError(`NATS refused this identity permission to ${verb} on ${error.subject}: ${what} is not allowed with these credentials (see the NATS permissions in the README)`);
}

/**
 * Rejects as soon as the server refuses this connection a subject the request needs: publishing
 * the request (`leasehold.cancel.*` for a watcher) or receiving the answer (its inbox). nats.js
 * reports those asynchronously; without this the request would only time out, and the user would
 * be told nobody answered when in fact they were not allowed to ask.
 */
function permissionRefusal(nc: NatsConnection, subject: string, what: string): { refused: Promise<never>; stop(): void } {
  const statuses = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  const refused = new Promise<never>((_, reject) => {
    void (async () => {
      for await (const status of statuses) {
        if (status.type !== 'error' || !(status.error instanceof PermissionViolationError)) continue;
        const { subject: denied } = status.error;
        if (denied !== subject && !denied.startsWith('_INBOX.')) continue;
        reject(permissionError(status.error, what));
        return;
      }
    })();
  });
  refused.catch(() => undefined);
  return { refused, stop: () => statuses.stop?.() };
}

/**
 * One request to the control plane. The reply is shape-checked by `parse`: junk, or an answer
 * about another workload, is an error, never something printed as if the control plane said it.
 */
export async function request<T>(nc: NatsConnection, subject: string, what: string, parse: (data: Uint8Array) => Reply<T> | null, body = ''): Promise<Reply<T>> {
  const permission = permissionRefusal(nc, subject, what);
  let data: Uint8Array;
  try {
    data = (await Promise.race([nc.request(subject, body, { timeout: 5_000 }), permission.refused])).data;
  } catch (error) {
    if (error instanceof CliError) throw error;
    const refusal = [error, (error as { cause?: unknown } | null)?.cause].find((e) => e instanceof PermissionViolationError);
    if (refusal) throw permissionError(refusal, what);
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`no control plane answered ${what} (${reason}); is \`leasehold start\` running against this NATS?`);
  } finally {
    permission.stop();
  }
  const reply = parse(data);
  if (!reply) throw new CliError(`the answer to ${what} is not a well-formed control-plane reply; ignored it`);
  return reply;
}

/** One request to the control plane on its own short-lived connection. */
export async function askControlPlane<T>(target: NatsTarget, subject: string, what: string, parse: (data: Uint8Array) => Reply<T> | null): Promise<Reply<T>> {
  const nc = await openNats(target);
  try {
    return await request(nc, subject, what, parse);
  } finally {
    await nc.close();
  }
}

/**
 * Prints each transition once, as text or as data: a transition replayed from history and then
 * seen live (or seen twice) is printed the first time only, by its per-workload `seq`. As data,
 * every item carries a `kind` (`transition`, `status`), as kubectl's objects do, so that a reader
 * of `watch -o json` can tell the two shapes apart.
 */
export class TransitionPrinter {
  private readonly printed = new Map<string, number>();
  private ignored = 0;

  /** `beforeWrite` runs before each line (a progress line on the terminal clears itself there). */
  constructor(
    private readonly output: OutputFormat,
    private readonly beforeWrite: () => void = () => undefined,
    /** The installation whose transitions these are: a message on another subject is not one. */
    private readonly subjects: Subjects = SUBJECTS,
  ) {}

  /** False when it was printed already. */
  print(t: TransitionMessage): boolean {
    if ((this.printed.get(t.id) ?? 0) >= t.seq) return false;
    this.printed.set(t.id, t.seq);
    this.write(this.output === 'text' ? `${formatTransition(t)}\n` : formatDataItem({ kind: 'transition', ...t }, this.output));
    return true;
  }

  /** Where a workload is now, for a watcher that came late. */
  printStatus(status: WorkloadStatus): void {
    this.printed.set(status.id, Math.max(this.printed.get(status.id) ?? 0, status.seq));
    this.write(this.output === 'text' ? `now: ${formatStatus(status)}\n` : formatDataItem({ kind: 'status', ...status }, this.output));
  }

  private write(text: string): void {
    this.beforeWrite();
    process.stdout.write(text);
  }

  /**
   * Prints transitions as they arrive; with `untilTornDown`, stops at the first `tornDown` and
   * returns it (for `submit --wait` and `watch <id>`). Null: the subscription ended first (the
   * connection closed, or the caller stopped it).
   */
  async follow(subscription: Subscription, untilTornDown: boolean, onTransition: (t: TransitionMessage) => void = () => undefined): Promise<TransitionMessage | null> {
    for await (const msg of subscription) {
      const t = parseTransition(msg.data, msg.subject, this.subjects);
      if (!t) {
        if (this.ignored++ === 0) process.stderr.write(`leasehold: ignored a malformed message on ${msg.subject.slice(0, 300).replace(/[^\x21-\x7e]/g, '?')}\n`);
        continue;
      }
      if (!this.print(t)) continue;
      onTransition(t);
      if (untilTornDown && t.to === 'tornDown') return t;
    }
    return null;
  }
}
