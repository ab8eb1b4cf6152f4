import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Command } from 'commander';
import { createKeys } from '../../keys.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, parseSubmission } from '../../spec/index.js';
import { CliError } from '../cli-error.js';
import { openRedis } from '../clients.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import { positiveInt, withConnection, withOutput, type ConnectionOptions } from '../options.js';
import type { OutputFormat } from '../output.js';
import { inline } from '../terminal.js';
import { waitForWorkload } from '../wait.js';

export interface SubmitOptions extends ConnectionOptions {
  file?: string;
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
  follow?: boolean;
  timeout: number;
  output: OutputFormat;
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

/** The spec fields the flags set: all of them with no file, only those given with one. */
function fieldsFromFlags(options: SubmitOptions, args: string[], given: (name: string) => boolean): Record<string, unknown> {
  const cmd = args.length > 0 ? args : options.cmd;
  return {
    ...(given('id') ? { id: options.id } : {}),
    ...(given('type') ? { type: options.type } : {}),
    ...(given('image') ? { image: options.image } : {}),
    ...(cmd !== undefined ? { cmd } : {}),
    ...(options.env.length ? { env: pairs(options.env, '--env') } : {}),
    ...(options.label.length ? { labels: pairs(options.label, '--label') } : {}),
    ...(options.leaseSeconds !== undefined ? { leaseSeconds: options.leaseSeconds } : {}),
    ...(options.maxLifetime !== undefined ? { maxLifetimeSeconds: options.maxLifetime } : {}),
    ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}),
  };
}

/**
 * The payload to push. From a file, byte for byte as a producer would push it, unless flags are
 * given too: then each flag overrides its field (as `kubectl run --overrides` users expect;
 * `--env` and `--label` add to the file's, replacing a name given in both).
 */
function payloadOf(options: SubmitOptions, args: string[], command: Command): string {
  if (!options.file) {
    const fields = fieldsFromFlags(options, args, () => true);
    if (fields.cmd === undefined) throw new CliError('give the command after --, or --cmd "a shell line", or a JSON file', 2);
    return JSON.stringify({ ...fields, id: options.id ?? `wl-${randomBytes(4).toString('hex')}` });
  }
  const raw = readPayload(options.file);
  const overrides = fieldsFromFlags(options, args, (name) => command.getOptionValueSource(name) === 'cli');
  if (Object.keys(overrides).length === 0) return raw;
  const parsed = parseSubmission(raw);
  let file: unknown;
  try {
    file = JSON.parse(raw);
  } catch {
    throw new CliError(`not submitted: ${!parsed.ok ? parsed.reason : 'invalid JSON'}`, 2);
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) throw new CliError('not submitted: payload must be a JSON object', 2);
  const base = file as Record<string, unknown>;
  const merge = (name: 'env' | 'labels') => {
    const from = base[name];
    return typeof from === 'object' && from !== null && !Array.isArray(from) ? { ...from, ...(overrides[name] as object) } : overrides[name];
  };
  return JSON.stringify({
    ...base,
    ...overrides,
    ...(overrides.env ? { env: merge('env') } : {}),
    ...(overrides.labels ? { labels: merge('labels') } : {}),
  });
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

async function submit(args: string[], options: SubmitOptions, command: Command): Promise<void> {
  const raw = payloadOf(options, args, command);
  // The control plane would dead-letter it; saying so here is kinder.
  const parsed = parseSubmission(raw);
  if (!parsed.ok) throw new CliError(`not submitted: ${inline(parsed.reason)}`, 2);
  const { id } = parsed.spec;
  const keys = createKeys(options.keyPrefix);
  const redis = await openRedis(options.redis);
  try {
    if (await redis.exists(keys.workload(id))) throw new CliError(`not submitted: duplicate id ${id}`, 2);
    if (!options.wait && !options.follow) {
      await redis.lpush(keys.queue, raw);
      process.stdout.write(options.output === 'text' ? `submitted ${id}\n` : `${JSON.stringify({ id, queue: keys.queue })}\n`);
      return;
    }
    await waitForWorkload({ redis, queue: keys.queue, raw, id, options });
  } finally {
    redis.disconnect();
  }
}

export function registerSubmit(program: Command): void {
  const command = withOutput(
    withConnection(
      program
        .command('submit')
        .description('submit a workload (the same LPUSH a producer does), from flags or a JSON file')
        .argument('[command...]', 'the program and its arguments (after --)')
        .option('-f, --file <path>', 'a JSON payload; - reads standard input; flags given with it override its fields')
        .option('--id <id>', 'workload id (a DNS-1123 label); generated when omitted')
        .option('--type <type>', 'trusted or untrusted', 'trusted')
        .option('--image <image>', 'container image (used by the Kubernetes runtime)', 'alpine')
        .option('--cmd <line>', 'a shell line, run by /bin/sh -c')
        .option('-e, --env <NAME=value>', 'environment variable (repeatable)', collect, [])
        .option('-l, --label <key=value>', 'label (repeatable)', collect, [])
        .option('--lease-seconds <s>', 'lease TTL', positiveInt)
        .option('--max-lifetime <s>', 'maximum lifetime in seconds', positiveInt)
        .option('--heartbeat <who>', 'runtime (default) or self')
        .option('-w, --wait', "follow the workload to its end, print its output, and exit with its exit code (see Exit codes)", false)
        .option('--follow', 'like --wait, streaming its output as it comes')
        .option('--timeout <s>', 'with --wait: the most seconds to wait for the end, from submitting (0: no limit); then exit 124', positiveInt, 3600),
    ),
  ).action(async (args: string[], options: SubmitOptions, self: Command) => {
    try {
      await submit(args, options, self);
    } catch (error) {
      // With --wait the exit code speaks for the workload: the CLI's own failures take 125.
      if ((options.wait || options.follow) && error instanceof CliError && error.exitCode !== EXIT.timeout) throw new CliError(error.message, EXIT.cliFailed);
      throw error;
    }
  });
  examples(command, [
    ['run a command and return at once', 'leasehold submit --id hello -- echo hello'],
    ['wait for it: print its transitions and output, exit with its exit code', "leasehold submit --wait --cmd 'echo working; exit 3'"],
    ['stream its output while it runs, give up after 60 s', 'leasehold submit --follow --timeout 60 -- sh -c "for i in 1 2 3; do echo $i; sleep 1; done"'],
    ['a JSON payload, with the id and type overridden by flags', 'leasehold submit -f payload.json --id job-2 --type untrusted'],
  ]);
  command.addHelpText(
    'after',
    `
Exit codes with --wait or --follow:
  0    the workload completed
  N    the workload exited with code N (1-255)
  124  --timeout passed first; the workload goes on (leasehold cancel <id> ends it)
  125  the CLI failed: nothing was submitted, or it lost track of the workload
  126  the workload ended without an exit code of its own (rejected, cancelled, lease expired, deadline, killed)
`,
  );
}
