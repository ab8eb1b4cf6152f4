import type { Command } from 'commander';
import { SUBJECTS, type WorkloadStatus } from '../../events/transition.js';
import { CliError } from '../cli-error.js';
import { askControlPlane } from '../clients.js';
import { formatStatus } from '../format.js';
import { withConnection, withOutput, type ConnectionOptions } from '../options.js';

interface ControlOptions extends ConnectionOptions {
  output: 'text' | 'json';
}

/** `status`, `cancel` and `logs`: one request to the control plane over NATS each. */
export function registerControl(program: Command): void {
  const command = (name: string, description: string) => withOutput(withConnection(program.command(name).description(description).argument('<id>')));

  command('status', 'where a workload is now').action(async (id: string, options: ControlOptions) => {
    const status = await askControlPlane<WorkloadStatus & { error?: string }>(options.nats, SUBJECTS.status(id), `status ${id}`);
    if (status.error) throw new CliError(status.error);
    process.stdout.write(options.output === 'json' ? `${JSON.stringify(status)}\n` : `${formatStatus(status)}\n`);
  });

  command('cancel', 'end a workload (tears it down)').action(async (id: string, options: ControlOptions) => {
    const result = await askControlPlane<{ ok: boolean; state?: string; error?: string }>(options.nats, SUBJECTS.cancel(id), `cancel ${id}`);
    if (options.output === 'json') process.stdout.write(`${JSON.stringify(result)}\n`);
    if (!result.ok) throw new CliError(result.error ?? `could not cancel ${id}`);
    if (options.output === 'text') process.stdout.write(`cancelling ${id} (was ${result.state})\n`);
  });

  command('logs', "the tail of a workload's output").action(async (id: string, options: ControlOptions) => {
    const result = await askControlPlane<{ logs?: string; error?: string }>(options.nats, SUBJECTS.logs(id), `logs ${id}`);
    if (result.error || result.logs === undefined) throw new CliError(result.error ?? `no logs for ${id}`);
    process.stdout.write(options.output === 'json' ? `${JSON.stringify(result)}\n` : result.logs);
  });
}
