import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { Leasehold } from '../../client/leasehold.js';
import type { SessionHandle } from '../../client/session.js';
import { SessionEndedError, WorkloadNotFoundError } from '../../client/errors.js';
import { LeaseholdError } from '../../errors.js';
import { CliError } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import { natsTargetOf, positiveInt, withConnection, type ConnectionOptions } from '../options.js';
import { inline } from '../terminal.js';

interface SessionCliOptions extends ConnectionOptions {
  id?: string;
  type: string;
  image: string;
  lease?: number;
  maxLifetime?: number;
  label: string[];
  detach: boolean;
  timeout: number;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function labelPairs(values: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at < 1) throw new CliError(`--label takes key=value, not "${value}"`, EXIT.usage);
    result[value.slice(0, at)] = value.slice(at + 1);
  }
  return result;
}

/**
 * Resolves when the holder lets go: Ctrl-C, SIGTERM, or the end of stdin (a parent that pipes
 * into us and exits ends the session too, instead of leaving it to its lease), or when the
 * session ended on its own (a heartbeat says it no longer runs). `release()` removes the listeners.
 */
function holding(session: SessionHandle): { released: Promise<string>; release(): void } {
  let resolve: (why: string) => void = () => undefined;
  const released = new Promise<string>((r) => (resolve = r));
  const onInt = () => resolve('interrupted');
  const onTerm = () => resolve('terminated');
  const onEnd = () => resolve('end of input');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  process.stdin.once('end', onEnd);
  process.stdin.on('data', () => undefined).resume();
  const ended = setInterval(() => {
    const error = session.lastHeartbeatError;
    if (error instanceof SessionEndedError || error instanceof WorkloadNotFoundError) resolve(`it ended: ${error.message}`);
  }, 500);
  return {
    released,
    release() {
      clearInterval(ended);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
    },
  };
}

async function openSession(options: SessionCliOptions): Promise<void> {
  const leasehold = await Leasehold.connect({
    redis: options.redis,
    nats: options.nats,
    natsAuth: natsTargetOf(options).auth,
    ...(options.installation !== undefined ? { installation: options.installation } : {}),
    keyPrefix: options.keyPrefix,
  }).catch((error: unknown) => {
    throw error instanceof LeaseholdError ? new CliError(error.message, EXIT.failed) : error;
  });
  const tty = process.stderr.isTTY;
  // Ctrl-C while the session waits to start (queued, provisioning) must end it too: left behind,
  // it would start later with nobody holding it, and run until its lease lapses.
  const id = options.id ?? `session-${randomBytes(5).toString('hex')}`;
  const opening = new AbortController();
  const interrupt = () => opening.abort(new CliError(`interrupted before session ${id} ran; it was cancelled`, EXIT.failed));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const session = await leasehold
      .session(
        {
          id,
          type: options.type as 'trusted' | 'untrusted',
          image: options.image,
          ...(options.lease !== undefined ? { leaseSeconds: options.lease } : {}),
          ...(options.maxLifetime !== undefined ? { maxLifetimeSeconds: options.maxLifetime } : {}),
          ...(options.label.length > 0 ? { labels: labelPairs(options.label) } : {}),
        },
        { timeoutMs: options.timeout * 1000, signal: opening.signal, ...(tty ? { onState: (state: string) => process.stderr.write(`leasehold: session ${state}\n`) } : {}) },
      )
      .catch(async (error: unknown) => {
        if (!opening.signal.aborted) throw error;
        // session() cancels what it waited for; this also covers a Ctrl-C while it was being recorded.
        await leasehold.cancel(id).catch(() => undefined);
        throw opening.signal.reason;
      })
      .finally(() => {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      });
    process.stdout.write(`${session.id}\n`);
    process.stderr.write(`leasehold: run commands in it with: leasehold exec ${session.id} -- <command>\n`);
    if (options.detach) {
      // Left to the caller: heartbeat it (leasehold.heartbeat.<id>), exec into it, cancel it.
      process.stderr.write(`leasehold: detached; it lives while it is heartbeated or exec'd into (lease ${session.spec.leaseSeconds} s); end it with: leasehold cancel ${session.id}\n`);
      return;
    }
    if (tty) process.stderr.write('leasehold: holding the session; Ctrl-C (or end of input) ends it\n');
    const hold = holding(session);
    const why = await hold.released;
    hold.release();
    if (tty) process.stderr.write(`leasehold: ${why}; ending the session\n`);
    const end = await session.close({ timeoutMs: options.timeout * 1000 });
    if (tty) process.stderr.write(`leasehold: session ${session.id} ended (${end.reason})\n`);
  } catch (error) {
    if (error instanceof LeaseholdError) throw new CliError(`${inline(error.message)}`, EXIT.failed);
    throw error;
  } finally {
    await leasehold.close();
  }
}

export function registerSession(program: Command): void {
  const command = withConnection(
    program
      .command('session')
      .description('open a session: a sandbox that runs nothing of its own, for commands exec\'d into it; held (heartbeated) until Ctrl-C or end of input, then ended')
      .option('--id <id>', 'its id (default: session-<random>)')
      .option('--type <type>', 'trusted or untrusted', 'untrusted')
      .option('--image <image>', 'container image (Kubernetes, Firecracker)', 'alpine')
      .option('--lease <s>', 'lease in seconds: without a heartbeat or exec for this long, it ends (default 30)', positiveInt)
      .option('--max-lifetime <s>', 'it ends after this many seconds whatever happens (default 3600)', positiveInt)
      .option('-l, --label <key=value>', 'label (repeatable)', collect, [])
      .option('--detach', 'print its id and leave; the caller heartbeats, execs and cancels', false)
      .option('--timeout <s>', 'give up if it is not running (or, when ending, not ended) after this many seconds', positiveInt, 120),
  ).action((options: SessionCliOptions) => openSession(options));
  examples(command, [
    ['open a session and hold it in this terminal; Ctrl-C ends it', 'leasehold session --image python:3.12'],
    ['from another terminal, run commands in it', 'leasehold exec session-1a2b3c4d5e -- python -c "print(6 * 7)"'],
    ['open one for a script, which then execs, and cancels it when done', 'id=$(leasehold session --detach --lease 120) && leasehold exec "$id" -- make test; leasehold cancel "$id"'],
  ]);
}
