import type { Command } from 'commander';
import { SUBJECTS, type WorkloadStatus } from '../../events/transition.js';
import { openNats, printTransitions } from '../clients.js';
import { formatStatus } from '../format.js';
import { withConnection, withOutput, type ConnectionOptions } from '../options.js';

interface WatchOptions extends ConnectionOptions {
  output: 'text' | 'json';
}

export function registerWatch(program: Command): void {
  withOutput(
    withConnection(
      program
        .command('watch')
        .description('print transitions live from NATS: every workload, or one (until it is torn down)')
        .argument('[id]', 'one workload'),
    ),
  ).action(async (id: string | undefined, options: WatchOptions) => {
    const nc = await openNats(options.nats);
    const subscription = nc.subscribe(SUBJECTS.watch(id));
    const print = (line: string) => process.stdout.write(`${line}\n`);
    const stop = () => void nc.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (id) {
      // A late watcher learns where the workload is now, then follows it.
      await nc.flush();
      const reply = await nc.request(SUBJECTS.status(id), '', { timeout: 3_000 }).catch(() => null);
      const status = reply?.json<WorkloadStatus & { error?: string }>();
      if (status && !status.error) {
        print(options.output === 'json' ? JSON.stringify({ status }) : `now: ${formatStatus(status)}`);
        if (status.state === 'tornDown') return void (await nc.close());
      } else if (options.output === 'text') {
        print(`${id}: not known yet; waiting for it`);
      }
    } else if (options.output === 'text') {
      print(`watching ${SUBJECTS.watch()} on ${options.nats} (Ctrl-C to stop)`);
    }
    await printTransitions(subscription, options.output, id !== undefined);
    await nc.close();
  });
}
