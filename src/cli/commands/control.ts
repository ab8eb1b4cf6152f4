import type { Command } from 'commander';
import { SUBJECTS, type WorkloadStatus } from '../../events/transition.js';
import { CliError } from '../cli-error.js';
import { openNats, request } from '../clients.js';
import { formatStatus } from '../format.js';
import { withConnection, withOutput, type ConnectionOptions } from '../options.js';

interface ControlOptions extends ConnectionOptions {
  output: 'text' | 'json';
}

/** `status`, `cancel` and `logs`: one request to the control plane over NATS each. */
export function registerControl(program: Command): void {
  withOutput(withConnection(program.command('status').description('where a workload is now').argument('<id>'))).action(
    async (id: string, options: ControlOptions) => {
      const nc = await openNats(options.nats);
      try {
        const status = await request<WorkloadStatus & { error?: string }>(nc, SUBJECTS.status(id), `status ${id}`);
        if (status.error) throw new CliError(status.error);
        process.stdout.write(options.output === 'json' ? `${JSON.stringify(status)}\n` : `${formatStatus(status)}\n`);
      } finally {
        await nc.close();
      }
    },
  );

  withOutput(withConnection(program.command('cancel').description('end a workload (tears it down)').argument('<id>'))).action(
    async (id: string, options: ControlOptions) => {
      const nc = await openNats(options.nats);
      try {
        const result = await request<{ ok: boolean; state?: string; error?: string }>(nc, SUBJECTS.cancel(id), `cancel ${id}`);
        if (options.output === 'json') process.stdout.write(`${JSON.stringify(result)}\n`);
        if (!result.ok) throw new CliError(result.error ?? `could not cancel ${id}`);
        if (options.output === 'text') process.stdout.write(`cancelling ${id} (was ${result.state})\n`);
      } finally {
        await nc.close();
      }
    },
  );

  withOutput(withConnection(program.command('logs').description('the tail of a workload\'s output').argument('<id>'))).action(
    async (id: string, options: ControlOptions) => {
      const nc = await openNats(options.nats);
      try {
        const result = await request<{ logs?: string; error?: string }>(nc, SUBJECTS.logs(id), `logs ${id}`);
        if (result.error || result.logs === undefined) throw new CliError(result.error ?? `no logs for ${id}`);
        process.stdout.write(options.output === 'json' ? `${JSON.stringify(result)}\n` : result.logs);
      } finally {
        await nc.close();
      }
    },
  );
}
