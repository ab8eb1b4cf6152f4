import type { NatsConnection } from '@nats-io/transport-node';
import type { Command } from 'commander';
import type { Subjects } from '../../events/transition.js';
import { CliError } from '../cli-error.js';
import { openNats } from '../clients.js';
import { examples } from '../help.js';
import { lastLines, newOutput } from '../log-tail.js';
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

/**
 * `logs -f`: reads the tail again every `interval` ms and prints what is new, until the workload
 * is torn down (then once more, for its last words).
 */
export async function followLogs(
  nc: NatsConnection,
  id: string,
  options: { output: OutputFormat; tail?: number; interval: number; stopped: () => boolean; subjects?: Subjects },
): Promise<void> {
  let shown: string | null = null;
  for (;;) {
    const status = await askStatus(nc, id, options.subjects);
    if (!status && shown === null) throw new CliError(`no workload ${inline(id)}`);
    const ended = status?.state === 'tornDown';
    // Before it runs there is no output to read; that is not an error while following.
    const { logs } = await fetchLogs(nc, id, options.subjects);
    const text: string = logs ?? shown ?? '';
    const piece = shown === null ? (options.tail !== undefined ? lastLines(text, options.tail) : text) : newOutput(shown, text);
    writeLogs(id, piece, options.output);
    shown = text;
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
        .option('--interval <ms>', 'with -f: how often to read the output', positiveInt, 500),
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
