import type { Redis } from 'ioredis';
import type { Command } from 'commander';
import { createKeys, type Keys } from '../../keys.js';
import { CliError } from '../cli-error.js';
import { openRedis } from '../clients.js';
import { idOf, letterAt, listLetters, retryLetters, whyNotRetryable, type ListedLetter } from '../dead-letters/letters.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import { positiveInt, withOutput, withRedisConnection } from '../options.js';
import { formatData, type OutputFormat } from '../output.js';
import { escapeControls, forStream, inline, paint } from '../terminal.js';

interface DeadLetterOptions {
  redis: string;
  keyPrefix: string;
  output: OutputFormat;
}

/** Letters are retried this many to a script call: each call is atomic, and none holds Redis for long. */
const RETRY_BATCH = 100;

async function withRedis<T>(options: DeadLetterOptions, run: (redis: Redis, keys: Keys) => Promise<T>): Promise<T> {
  const redis = await openRedis(options.redis);
  try {
    return await run(redis, createKeys(options.keyPrefix));
  } finally {
    redis.disconnect();
  }
}

function asData(entry: ListedLetter): Record<string, unknown> {
  return { n: entry.n, id: entry.letter ? idOf(entry.letter.raw) : null, ...(entry.letter ?? { unreadable: entry.stored }) };
}

async function mustFind(redis: Redis, keys: Keys, n: number): Promise<ListedLetter> {
  const entry = await letterAt(redis, keys, n);
  if (!entry) throw new CliError(`no dead letter ${n} in ${keys.dead} (\`leasehold dead-letters list\` numbers them, 1 the oldest)`);
  return entry;
}

export function registerDeadLetters(program: Command): void {
  const group = program
    .command('dead-letters')
    .description('payloads the control plane refused (invalid, oversized, duplicate id), with the reason: list, show, retry');

  const list = withOutput(withRedisConnection(group.command('list').description('every dead letter, 1 the oldest'))).action(async (options: DeadLetterOptions) =>
    withRedis(options, async (redis, keys) => {
      const entries = await listLetters(redis, keys);
      if (options.output !== 'text') return void process.stdout.write(formatData(entries.map(asData), options.output));
      if (entries.length === 0) return void process.stdout.write(`no dead letters in ${keys.dead}\n`);
      process.stdout.write(`${paint('bold', `${'#'.padEnd(5)}${'AT'.padEnd(26)}${'ID'.padEnd(22)}REASON`)}\n`);
      for (const e of entries) {
        const id = e.letter ? (idOf(e.letter.raw) ?? '-') : '?';
        const reason = e.letter ? `${e.letter.reason}${e.letter.bytes !== undefined ? ` (kept ${Buffer.byteLength(e.letter.raw)} of ${e.letter.bytes} bytes)` : ''}` : 'not a dead letter Leasehold wrote';
        process.stdout.write(`${String(e.n).padEnd(5)}${inline(e.letter?.at ?? '?').padEnd(26)}${inline(id).padEnd(22)}${inline(reason)}\n`);
      }
    }),
  );
  examples(list, [
    ['what was refused, and why', 'leasehold dead-letters list'],
    ['as data', 'leasehold dead-letters list -o json'],
  ]);

  const show = withOutput(
    withRedisConnection(
      group
        .command('show')
        .description('one dead letter whole: its reason, time and payload')
        .argument('<n>', 'its number in `dead-letters list`', positiveInt)
        .option('--raw', 'print only the payload, byte for byte (to fix it and submit it with `submit -f`)'),
    ),
  ).action(async (n: number, options: DeadLetterOptions & { raw?: boolean }) =>
    withRedis(options, async (redis, keys) => {
      const entry = await mustFind(redis, keys, n);
      if (options.raw) {
        if (!entry.letter) throw new CliError(`dead letter ${n} is not one Leasehold wrote; \`dead-letters show ${n} -o json\` shows it`);
        return void process.stdout.write(forStream(`${entry.letter.raw}\n`, process.stdout));
      }
      if (options.output !== 'text') return void process.stdout.write(formatData(asData(entry), options.output));
      const { letter } = entry;
      if (!letter) return void process.stdout.write(`${n}: not a dead letter Leasehold wrote:\n${escapeControls(entry.stored, { multiline: true })}\n`);
      const lines = [`dead letter ${n}`, `  at:      ${inline(letter.at)}`, `  id:      ${inline(idOf(letter.raw) ?? '-')}`, `  reason:  ${inline(letter.reason)}`];
      if (letter.bytes !== undefined) lines.push(`  kept:    the first ${Buffer.byteLength(letter.raw)} of ${letter.bytes} bytes`);
      lines.push('  payload:', escapeControls(letter.raw, { multiline: true }));
      process.stdout.write(`${lines.join('\n')}\n`);
    }),
  );
  examples(show, [
    ['the reason and the payload of the oldest', 'leasehold dead-letters show 1'],
    ['fix a payload and submit it again', 'leasehold dead-letters show 1 --raw > fixed.json && leasehold submit -f fixed.json'],
  ]);

  const retry = withOutput(
    withRedisConnection(
      group
        .command('retry')
        .description('push dead letters back onto the queue (each removed from the list in the same step)')
        .argument('[n]', 'its number in `dead-letters list`', positiveInt)
        .option('--all', 'every dead letter that can be retried as it is; the others stay, with the reason'),
    ),
  ).action(async (n: number | undefined, options: DeadLetterOptions & { all?: boolean }) =>
    withRedis(options, async (redis, keys) => {
      if ((n === undefined) === !options.all) throw new CliError('give one dead letter number, or --all', EXIT.usage);
      const entries = n !== undefined ? [await mustFind(redis, keys, n)] : await listLetters(redis, keys);
      const ready: ListedLetter[] = [];
      const kept: { n: number; id: string | null; why: string }[] = [];
      for (const entry of entries) {
        const why = await whyNotRetryable(redis, keys, entry);
        if (why) kept.push({ n: entry.n, id: entry.letter ? idOf(entry.letter.raw) : null, why });
        else ready.push(entry);
      }
      const retried: { n: number; id: string | null }[] = [];
      for (let i = 0; i < ready.length; i += RETRY_BATCH) {
        const batch = ready.slice(i, i + RETRY_BATCH);
        const done = await retryLetters(redis, keys, batch);
        batch.forEach((entry, j) => {
          const id = idOf(entry.letter!.raw);
          if (done[j]) retried.push({ n: entry.n, id });
          else kept.push({ n: entry.n, id, why: 'it left the list meanwhile (trimmed, or retried by someone else); nothing pushed' });
        });
      }
      if (options.output !== 'text') process.stdout.write(formatData({ queue: keys.queue, retried, kept }, options.output));
      else {
        for (const r of retried) process.stdout.write(`retried ${r.n}: ${inline(r.id ?? '-')} pushed onto ${keys.queue}\n`);
        for (const k of kept) process.stderr.write(`leasehold: kept ${k.n}${k.id ? ` (${inline(k.id)})` : ''}: ${inline(k.why)}\n`);
      }
      // One letter asked for and not retried is a failure; --all retries what it can.
      if (n !== undefined && retried.length === 0) process.exitCode = EXIT.failed;
    }),
  );
  examples(retry, [
    ['retry the oldest dead letter (after fixing what refused it, e.g. a missing sandbox)', 'leasehold dead-letters retry 1'],
    ['retry every one that can be, as it is', 'leasehold dead-letters retry --all'],
  ]);
  examples(group, [
    ['what was refused, and why', 'leasehold dead-letters list'],
    ['retry every dead letter that can be', 'leasehold dead-letters retry --all'],
  ]);
}
