import type { Command } from 'commander';
import { parseCancelReply, parseLogsReply, parseStatusReply } from '../../events/messages.js';
import { SUBJECTS } from '../../events/transition.js';
import { CliError } from '../cli-error.js';
import { askControlPlane } from '../clients.js';
import { formatStatus } from '../format.js';
import { natsTargetOf, withConnection, withOutput, type ConnectionOptions } from '../options.js';

interface ControlOptions extends ConnectionOptions {
  output: 'text' | 'json';
}

/** `status`, `cancel` and `logs`: one request to the control plane over NATS each. */
export function registerControl(program: Command): void {
  const command = (name: string, description: string) => withOutput(withConnection(program.command(name).description(description).argument('<id>')));

  command('status', 'where a workload is now').action(async (id: string, options: ControlOptions) => {
    const reply = await askControlPlane(natsTargetOf(options), SUBJECTS.status(id), `status ${id}`, (data) => parseStatusReply(data, id));
    if (!reply.ok) throw new CliError(reply.error);
    const status = reply.value;
    process.stdout.write(options.output === 'json' ? `${JSON.stringify(status)}\n` : `${formatStatus(status)}\n`);
  });

  command('cancel', 'end a workload (tears it down)').action(async (id: string, options: ControlOptions) => {
    const reply = await askControlPlane(natsTargetOf(options), SUBJECTS.cancel(id), `cancel ${id}`, parseCancelReply);
    if (!reply.ok) throw new CliError(reply.error);
    const result = reply.value;
    if (options.output === 'json') process.stdout.write(`${JSON.stringify(result)}\n`);
    if (!result.ok) throw new CliError(result.error ?? `could not cancel ${id}`);
    if (options.output === 'text') process.stdout.write(`cancelling ${id} (was ${result.state})\n`);
  });

  command('logs', "the tail of a workload's output").action(async (id: string, options: ControlOptions) => {
    const reply = await askControlPlane(natsTargetOf(options), SUBJECTS.logs(id), `logs ${id}`, (data) => parseLogsReply(data, id));
    if (!reply.ok) throw new CliError(reply.error);
    const result = reply.value;
    process.stdout.write(options.output === 'json' ? `${JSON.stringify(result)}\n` : result.logs);
  });
}
