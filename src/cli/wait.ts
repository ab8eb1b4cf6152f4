import type { Redis } from 'ioredis';
import type { LifecycleState } from '../../machines/index.js';
import type { TransitionMessage } from '../events/transition.js';
import { redactUrl } from '../redact.js';
import { CliError } from './cli-error.js';
import { TransitionPrinter, openNats } from './clients.js';
import { fetchLogs, writeLogs } from './workload-logs.js';
import { EXIT, describeEnd, exitCodeOfEnd } from './exit-codes.js';
import { LogCursor } from './log-cursor.js';
import { natsTargetOf, subjectsOf, type ConnectionOptions } from './options.js';
import type { OutputFormat } from './output.js';
import { ProgressLine, elapsed } from './progress.js';
import { isTerminal, paint } from './terminal.js';

interface WaitOptions extends ConnectionOptions {
  follow?: boolean;
  timeout: number;
  output: OutputFormat;
}

/** How long after pushing, with no transition seen, to say that nothing seems to take the queue. */
const QUIET_HINT_MS = 5_000;
const LOG_POLL_MS = 500;

/**
 * `submit --wait` / `--follow`: pushes the payload and follows the workload to its end within an
 * overall deadline (`--timeout`), then prints its output and sets the exit code from its end
 * (see exit-codes.ts). On a terminal a progress line shows the state and the time waited.
 */
export async function waitForWorkload(input: { redis: Redis; queue: string; raw: string; id: string; options: WaitOptions }): Promise<void> {
  const { redis, queue, raw, id, options } = input;
  const started = Date.now();
  const subjects = subjectsOf(options);
  const nc = await openNats(natsTargetOf(options));
  const progress = new ProgressLine(process.stderr, options.output === 'text' && isTerminal(process.stderr));
  const printer = new TransitionPrinter(options.output, () => progress.clear(), subjects);
  let state: LifecycleState | null = null;
  let timedOut = false;
  let finished = false;
  const timers: NodeJS.Timeout[] = [];
  try {
    // Subscribe before pushing, so not even the first transition can be missed.
    const subscription = nc.subscribe(subjects.watch(id));
    await nc.flush();
    await redis.lpush(queue, raw);
    progress.start(() => `${paint('cyan', id, process.stderr)}  ${state ?? 'in the queue'}  ${elapsed(started)}`);
    if (options.timeout > 0) {
      timers.push(
        setTimeout(() => {
          timedOut = true;
          subscription.unsubscribe();
        }, options.timeout * 1000),
      );
    }
    const quietHint = async () => {
      if (state !== null || !(await stillQueued())) return;
      progress.clear();
      process.stderr.write(`leasehold: nothing has taken ${id} from ${queue} yet; is a control plane consuming this Redis${options.keyPrefix ? ` with --key-prefix ${options.keyPrefix}` : ''}? Still waiting.\n`);
    };
    const stillQueued = async () => (await redis.lpos(queue, raw).catch(() => null)) !== null;

    timers.push(setTimeout(() => void quietHint(), Math.min(QUIET_HINT_MS, (options.timeout * 1000) / 2 || QUIET_HINT_MS)));

    const cursor = new LogCursor(nc, id, subjects);
    /** Prints what is new, until a read brings nothing; `always`: even once the wait has finished (the last words). */
    const drainLogs = async (always: boolean) => {
      // Checked before a read, never after: what the cursor has read must be printed.
      while (always || !finished) {
        const piece = await cursor.read().catch(() => null);
        if (!piece || (piece.text === '' && piece.missed === 0)) return;
        progress.clear();
        if (piece.missed > 0) process.stderr.write(`leasehold: ${piece.missed} bytes of ${id}'s output were no longer kept by the control plane and are not shown\n`);
        writeLogs(id, piece.text, options.output);
      }
    };
    const streamLogs = async () => {
      while (!finished) {
        if (state !== null && state !== 'queued' && state !== 'provisioning') await drainLogs(false);
        await new Promise((resolve) => setTimeout(resolve, LOG_POLL_MS));
      }
    };
    const streaming = options.follow ? streamLogs() : Promise.resolve();

    const end = await printer.follow(subscription, true, (t) => (state = t.to));
    finished = true;
    await streaming;
    progress.stop();
    if (end) return await finish(end);
    if (timedOut) throw new CliError(`gave up waiting for ${id} after ${options.timeout} s: ${await whereItIs()}`, EXIT.timeout);
    throw new CliError(`lost the connection to NATS at ${redactUrl(options.nats)} while waiting for ${id}; \`leasehold status ${id}\` tells where it is`, EXIT.cliFailed);

    async function whereItIs(): Promise<string> {
      if (state) return `it is ${state} and goes on (\`leasehold watch ${id}\` follows it, \`leasehold cancel ${id}\` ends it)`;
      if (await stillQueued()) return `it is still in ${queue}: no control plane took it (is one running against this Redis${options.keyPrefix ? ` and --key-prefix` : ''}?)`;
      return `it left ${queue} but no transition came on NATS (is the control plane on ${redactUrl(options.nats)}?)`;
    }

    async function finish(t: TransitionMessage): Promise<void> {
      // The last words: what --follow has not printed yet, or all of it.
      if (options.follow) await drainLogs(true);
      else {
        const { logs } = await fetchLogs(nc, id, subjects).catch(() => ({ logs: null }));
        if (logs !== null) writeLogs(id, logs, options.output);
      }
      const code = exitCodeOfEnd(t);
      if (code !== EXIT.ok) process.stderr.write(`leasehold: ${describeEnd(t)}\n`);
      process.exitCode = code;
    }
  } finally {
    finished = true;
    for (const timer of timers) clearTimeout(timer);
    progress.stop();
    await nc.close();
  }
}
