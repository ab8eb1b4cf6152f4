import type { Command } from 'commander';
import { parseCancelReply } from '../../events/messages.js';
import { CliError } from '../cli-error.js';
import { askControlPlane } from '../clients.js';
import { formatStatus } from '../format.js';
import { examples } from '../help.js';
import { natsTargetOf, subjectsOf, withNatsConnection, withOutput, type InstallationOptions, type NatsAuthOptions } from '../options.js';
import { formatData, type OutputFormat } from '../output.js';
import { parseStatusAnswer } from '../status.js';
import { inline } from '../terminal.js';

interface ControlOptions extends NatsAuthOptions, InstallationOptions {
  output: OutputFormat;
}

/**
 * `status` and `cancel`: one request to the control plane over NATS each. A workload that failed
 * is a status like any other (exit 0): only a refused or unanswered request is the command failing.
 */
export function registerControl(program: Command): void {
  const command = (name: string, description: string) => withOutput(withNatsConnection(program.command(name).description(description).argument('<id>')));

  const status = command('status', 'where a workload is now, and how it ended').action(async (id: string, options: ControlOptions) => {
    const reply = await askControlPlane(natsTargetOf(options), subjectsOf(options).status(id), `status ${id}`, (data) => parseStatusAnswer(data, id));
    if (!reply.ok) throw new CliError(inline(reply.error));
    const value = reply.value;
    process.stdout.write(options.output === 'text' ? `${formatStatus(value)}\n` : formatData(value, options.output));
  });
  examples(status, [
    ['state, reason, exit code, error and timings', 'leasehold status test-1'],
    ['as data', 'leasehold status test-1 -o json'],
  ]);

  const cancel = command('cancel', 'end a workload (tears it down)').action(async (id: string, options: ControlOptions) => {
    const reply = await askControlPlane(natsTargetOf(options), subjectsOf(options).cancel(id), `cancel ${id}`, parseCancelReply);
    if (!reply.ok) throw new CliError(inline(reply.error));
    const result = reply.value;
    if (options.output !== 'text') process.stdout.write(formatData(result, options.output));
    if (!result.ok) throw new CliError(inline(result.error ?? `could not cancel ${id}`));
    if (options.output === 'text') process.stdout.write(`cancelling ${inline(id)} (was ${result.state})\n`);
  });
  examples(cancel, [['tear a running workload down (its end reason is cancelled)', 'leasehold cancel test-1']]);
}
