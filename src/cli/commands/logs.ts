import type { NatsConnection } from '@nats-io/transport-node';
import type { Command } from 'commander';
import type { Subjects } from '../../events/transition.js';
import { CliError } from '../cli-error.js';
import { openNats } from '../clients.js';
import { examples } from '../help.js';
import { LogCursor, type LogPiece } from '../log-cursor.js';
import { lastLines } from '../log-tail.js';
import { natsTargetOf, positiveInt, subjectsOf, withNatsConnection, withOutput, type InstallationOptions, type NatsAuthOptions } from '../options.js';
import { formatData, type OutputFormat } from '../output.js';
import { askStatus } from '../status.js';
import { forStream, inline } from '../terminal.js';
import { fetchLogs, writeLogs } from '../workload-logs.js';

interface LogsOptions extends NatsAuthOptions, InstallationOptions {
  output: OutputFormat;
  follow?: boolean;
  tail?: number;
  interval: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Says on stderr what the control plane no longer held, so a gap in the output is never silent. */
function reportMissed(id: string, piece: LogPiece): void {
  if (piece.missed === 0) return;
  const where = piece.first ? 'the first' : 'a further';
  process.stderr.write(
    `leasehold: ${where} ${piece.missed} bytes of ${inline(id)}'s output are no longer kept by the control plane (it keeps a tail of each workload's output) and are not shown\n`,
  );
}

/**
 * `logs -f`: prints the output from where the last read ended (a byte offset the control plane
 * answers with), until the workload is torn down and its last words are read. While the output
 * grows it reads again at once; only a read that brought nothing waits `interval` ms.
 */
export async function followLogs(
  nc: NatsConnection,
  id: string,
  options: { output: OutputFormat; tail?: number; interval: number; stopped: () => boolean; subjects?: Subjects },
): Promise<void> {
  const cursor = new LogCursor(nc, id, options.subjects);
  let known = false;
  for (;;) {
    const status = await askStatus(nc, id, options.subjects);
    if (!status && !known) throw new CliError(`no workload ${inline(id)}`);
    known = true;
    const ended = status?.state === 'tornDown';
    // Before it runs there is no output to read; that is not an error while following.
    let piece = await cursor.read();
    while (piece) {
      if (piece.first && options.tail !== undefined) piece = { ...piece, text: lastLines(piece.text, options.tail), missed: 0 };
      reportMissed(id, piece);
      writeLogs(id, piece.text, options.output);
      // Nothing new: caught up. Else the output may be growing faster than we read: read again now.
      if (piece.text === '' && piece.missed === 0) break;
      if (options.stopped()) return;
      piece = await cursor.read();
    }
    if (ended || options.stopped()) return;
    await sleep(options.interval);
  }
}

export function registerLogs(program: Command): void {
  const command = withOutput(
    withNatsConnection(
      program
        .command('logs')
        .description("a workload's output (the tail the control plane keeps), or follow it to its end")
        .argument('<id>')
        .option('-f, --follow', 'keep printing new output until the workload is torn down')
        .option('--tail <lines>', 'only the last this many lines (then, with -f, everything new)', positiveInt)
        .option('--interval <ms>', 'with -f: how long to wait before reading again once nothing new came', positiveInt, 500),
    ),
  ).action(async (id: string, options: LogsOptions) => {
    const nc = await openNats(natsTargetOf(options));
    let stopped = false;
    const stop = () => (stopped = true);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      if (options.follow) return await followLogs(nc, id, { ...options, interval: Math.max(50, options.interval), stopped: () => stopped, subjects: subjectsOf(options) });
      const { logs, refusal } = await fetchLogs(nc, id, subjectsOf(options));
      if (logs === null) throw new CliError(inline(refusal ?? `no logs for ${id}`));
      const text = options.tail !== undefined ? lastLines(logs, options.tail) : logs;
      process.stdout.write(options.output === 'text' ? forStream(text, process.stdout) : formatData({ id, logs: text }, options.output));
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await nc.close();
    }
  });
  examples(command, [
    ["everything the control plane kept of a workload's output", 'leasehold logs test-1'],
    ['the last 20 lines', 'leasehold logs test-1 --tail 20'],
    ['follow it until it is torn down, as tail -f does', 'leasehold logs -f test-1'],
  ]);
}
