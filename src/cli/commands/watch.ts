import type { Command } from 'commander';
import { redactUrl } from '../../redact.js';
import { replayTransitions } from '../../events/transition-history.js';
import { CliError } from '../cli-error.js';
import { TransitionPrinter, openNats } from '../clients.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import { natsTargetOf, positiveInt, subjectsOf, withNatsConnection, withOutput, type InstallationOptions, type NatsAuthOptions } from '../options.js';
import type { OutputFormat } from '../output.js';
import { askStatus } from '../status.js';
import { inline } from '../terminal.js';

interface WatchOptions extends NatsAuthOptions, InstallationOptions {
  output: OutputFormat;
  replay?: boolean;
  timeout: number;
}

export function registerWatch(program: Command): void {
  const command = withOutput(
    withNatsConnection(
      program
        .command('watch')
        .description('print transitions live from NATS: every workload, or one (until it is torn down)')
        .argument('[id]', 'one workload')
        .option('--replay', 'first print the transitions kept in history (control plane started with --history)')
        .option('--timeout <s>', 'with an id: give up when the workload is still unknown after this many seconds (0: wait forever)', positiveInt, 30),
    ),
  ).action(async (id: string | undefined, options: WatchOptions) => {
    const subjects = subjectsOf(options);
    const nc = await openNats(natsTargetOf(options));
    // Live first, so nothing falls between the end of the replay and the start of the live feed.
    const subscription = nc.subscribe(subjects.watch(id));
    const printer = new TransitionPrinter(options.output, undefined, subjects);
    let stoppedByUser = false;
    const stop = () => {
      stoppedByUser = true;
      void nc.close();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let known = false;
    if (options.replay) {
      let ended = false;
      const replayed = await replayTransitions(
        nc,
        subjects.watch(id),
        (t) => {
          printer.print(t);
          known = true;
          ended ||= t.to === 'tornDown';
        },
        subjects,
      );
      if (replayed === null) {
        await nc.close();
        throw new CliError('no transition history on this NATS: start the control plane with --history <seconds> (and nats-server -js)');
      }
      if (id && ended) return void (await nc.close());
    } else if (id) {
      // A late watcher learns where the workload is now, then follows it.
      await nc.flush();
      const status = await askStatus(nc, id, subjects);
      if (status) {
        known = true;
        printer.printStatus(status);
        if (status.state === 'tornDown') return void (await nc.close());
      } else if (options.output === 'text') {
        const limit = options.timeout > 0 ? `up to ${options.timeout} s ` : '';
        process.stdout.write(`${inline(id)}: not known yet; waiting ${limit}for it\n`);
      }
    } else if (options.output === 'text') {
      process.stdout.write(`watching ${subjects.watch()} on ${redactUrl(options.nats)} (Ctrl-C to stop)\n`);
    }
    // An id nobody has heard of may never come (a typo, another prefix): say so rather than wait forever.
    let timedOut = false;
    const timer =
      id && !known && options.timeout > 0
        ? setTimeout(() => {
            timedOut = true;
            void nc.close();
          }, options.timeout * 1000)
        : undefined;
    const end = await printer.follow(subscription, id !== undefined, () => clearTimeout(timer));
    clearTimeout(timer);
    await nc.close();
    if (end || stoppedByUser) return;
    if (timedOut) {
      throw new CliError(`no workload ${inline(id!)} appeared within ${options.timeout} s: the control plane does not know it and nothing was published on ${subjects.watch(inline(id!))}`, EXIT.timeout);
    }
    throw new CliError(`lost the connection to NATS at ${redactUrl(options.nats)}; stopped watching`);
  });
  examples(command, [
    ['every transition of every workload, as they happen', 'leasehold watch'],
    ['one workload, to its end (prints where it is now first)', 'leasehold watch test-1'],
    ['a workload that may not exist yet, for at most 10 s', 'leasehold watch test-1 --timeout 10'],
    ['its whole history, from JetStream (control plane started with --history)', 'leasehold watch test-1 --replay'],
    ['as JSON lines, each with its kind (status or transition)', "leasehold watch -o json | jq 'select(.to == \"tornDown\")'"],
  ]);
}
