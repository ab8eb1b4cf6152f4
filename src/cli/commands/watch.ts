import type { Command } from 'commander';
import { redactUrl } from '../../redact.js';
import { replayTransitions } from '../../events/transition-history.js';
import { parseStatusReply } from '../../events/messages.js';
import { SUBJECTS } from '../../events/transition.js';
import { CliError } from '../cli-error.js';
import { TransitionPrinter, openNats, request } from '../clients.js';
import { formatStatus } from '../format.js';
import { natsTargetOf, withConnection, withOutput, type ConnectionOptions } from '../options.js';

interface WatchOptions extends ConnectionOptions {
  output: 'text' | 'json';
  replay?: boolean;
}

export function registerWatch(program: Command): void {
  withOutput(
    withConnection(
      program
        .command('watch')
        .description('print transitions live from NATS: every workload, or one (until it is torn down)')
        .argument('[id]', 'one workload')
        .option('--replay', 'first print the transitions kept in history (control plane started with --history)'),
    ),
  ).action(async (id: string | undefined, options: WatchOptions) => {
    const nc = await openNats(natsTargetOf(options));
    // Live first, so nothing falls between the end of the replay and the start of the live feed.
    const subscription = nc.subscribe(SUBJECTS.watch(id));
    const printer = new TransitionPrinter(options.output);
    const print = (line: string) => process.stdout.write(`${line}\n`);
    const stop = () => void nc.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (options.replay) {
      let ended = false;
      const replayed = await replayTransitions(nc, SUBJECTS.watch(id), (t) => {
        printer.print(t);
        ended ||= t.to === 'tornDown';
      });
      if (replayed === null) {
        await nc.close();
        throw new CliError('no transition history on this NATS: start the control plane with --history <seconds> (and nats-server -js)');
      }
      if (id && ended) return void (await nc.close());
    } else if (id) {
      // A late watcher learns where the workload is now, then follows it.
      await nc.flush();
      // Not known yet, nobody answering, or a malformed answer: all mean "wait for it".
      const reply = await request(nc, SUBJECTS.status(id), `status ${id}`, (data) => parseStatusReply(data, id)).catch(() => null);
      const status = reply?.ok ? reply.value : null;
      if (status) {
        print(options.output === 'json' ? JSON.stringify({ status }) : `now: ${formatStatus(status)}`);
        if (status.state === 'tornDown') return void (await nc.close());
      } else if (options.output === 'text') {
        print(`${id}: not known yet; waiting for it`);
      }
    } else if (options.output === 'text') {
      print(`watching ${SUBJECTS.watch()} on ${redactUrl(options.nats)} (Ctrl-C to stop)`);
    }
    await printer.follow(subscription, id !== undefined);
    await nc.close();
  });
}
