import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Command } from 'commander';
import { SUBJECTS } from '../../events/transition.js';
import { createKeys } from '../../keys.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, parseSubmission } from '../../spec/index.js';
import { CliError } from '../cli-error.js';
import { TransitionPrinter, openNats, openRedis } from '../clients.js';
import { natsTargetOf, positiveInt, withConnection, withOutput, type ConnectionOptions } from '../options.js';

interface SubmitOptions extends ConnectionOptions {
  id?: string;
  type: string;
  image: string;
  cmd?: string;
  env: string[];
  label: string[];
  leaseSeconds?: number;
  maxLifetime?: number;
  heartbeat?: string;
  wait: boolean;
  timeout: number;
  output: 'text' | 'json';
}

const collect = (value: string, previous: string[]) => [...previous, value];

function pairs(values: string[], what: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at < 1) throw new CliError(`${what} takes NAME=value, not "${value}"`, 2);
    result[value.slice(0, at)] = value.slice(at + 1);
  }
  return result;
}

function fromFlags(options: SubmitOptions, args: string[]): Record<string, unknown> {
  const cmd = args.length > 0 ? args : options.cmd;
  if (!cmd) throw new CliError('give the command after --, or --cmd "a shell line", or a JSON file', 2);
  return {
    id: options.id ?? `wl-${randomBytes(4).toString('hex')}`,
    type: options.type,
    image: options.image,
    cmd,
    ...(options.env.length ? { env: pairs(options.env, '--env') } : {}),
    ...(options.label.length ? { labels: pairs(options.label, '--label') } : {}),
    ...(options.leaseSeconds !== undefined ? { leaseSeconds: options.leaseSeconds } : {}),
    ...(options.maxLifetime !== undefined ? { maxLifetimeSeconds: options.maxLifetime } : {}),
    ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}),
  };
}

/**
 * The file's text, refused before it is read whole when it is over the control plane's payload
 * limit: a huge file costs neither this process's memory nor the queue a useless entry.
 */
function readPayload(file: string): string {
  const fd = file === '-' ? 0 : openSync(file, 'r');
  try {
    // One byte past the limit is enough to know; reading stops there, for files and pipes alike.
    const buffer = Buffer.alloc(DEFAULT_MAX_PAYLOAD_BYTES + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > DEFAULT_MAX_PAYLOAD_BYTES) {
      const size = file === '-' ? `more than ${DEFAULT_MAX_PAYLOAD_BYTES}` : String(fstatSync(fd).size);
      throw new CliError(`not submitted: payload of ${size} bytes is over the limit of ${DEFAULT_MAX_PAYLOAD_BYTES} bytes`, 2);
    }
    return buffer.toString('utf8', 0, length).trim();
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

export function registerSubmit(program: Command): void {
  withOutput(
    withConnection(
      program
        .command('submit')
        .description('submit a workload (the same LPUSH a producer does), from flags or a JSON file')
        .argument('[command...]', 'the program and its arguments (after --)')
        .option('-f, --file <path>', 'a JSON payload; - reads standard input')
        .option('--id <id>', 'workload id (a DNS-1123 label); generated when omitted')
        .option('--type <type>', 'trusted or untrusted', 'trusted')
        .option('--image <image>', 'container image (used by the Kubernetes runtime)', 'alpine')
        .option('--cmd <line>', 'a shell line, run by /bin/sh -c')
        .option('-e, --env <NAME=value>', 'environment variable (repeatable)', collect, [])
        .option('-l, --label <key=value>', 'label (repeatable)', collect, [])
        .option('--lease-seconds <s>', 'lease TTL', positiveInt)
        .option('--max-lifetime <s>', 'maximum lifetime in seconds', positiveInt)
        .option('--heartbeat <who>', 'runtime (default) or self')
        .option('-w, --wait', 'follow the workload to its end; exit non-zero unless it completed', false)
        .option('--timeout <s>', 'with --wait: give up after this many seconds', positiveInt, 3600),
    ),
  ).action(async (args: string[], options: SubmitOptions & { file?: string }) => {
    const raw = options.file ? readPayload(options.file) : JSON.stringify(fromFlags(options, args));
    // The control plane would dead-letter it; saying so here is kinder.
    const parsed = parseSubmission(raw);
    if (!parsed.ok) throw new CliError(`not submitted: ${parsed.reason}`, 2);
    const { id } = parsed.spec;
    const keys = createKeys(options.keyPrefix);
    const redis = await openRedis(options.redis);
    try {
      if (await redis.exists(keys.workload(id))) throw new CliError(`not submitted: duplicate id ${id}`, 2);
      if (!options.wait) {
        await redis.lpush(keys.queue, raw);
        process.stdout.write(options.output === 'json' ? `${JSON.stringify({ id, queue: keys.queue })}\n` : `submitted ${id}\n`);
        return;
      }
      const nc = await openNats(natsTargetOf(options));
      try {
        // Subscribe before pushing, so not even the first transition can be missed.
        const subscription = nc.subscribe(SUBJECTS.watch(id), { timeout: options.timeout * 1000 });
        await nc.flush();
        await redis.lpush(keys.queue, raw);
        const end = await new TransitionPrinter(options.output).follow(subscription, true);
        if (end?.reason !== 'completed') process.exitCode = 1;
      } catch (error) {
        throw new CliError(`stopped waiting for ${id}: ${String(error)}`);
      } finally {
        await nc.close();
      }
    } finally {
      redis.disconnect();
    }
  });
}
