import { Command, CommanderError } from 'commander';
import { LeaseholdError } from '../errors.js';
import { CliError } from './cli-error.js';
import { registerChart } from './commands/chart.js';
import { registerControl } from './commands/control.js';
import { registerInspect } from './commands/inspect.js';
import { registerStart } from './commands/start.js';
import { registerSubmit } from './commands/submit.js';
import { registerWatch } from './commands/watch.js';

export function buildProgram(): Command {
  const program = new Command('leasehold')
    .description('A control plane for short-lived workloads: submit with one LPUSH, watch every transition on NATS.')
    .version('0.1.0')
    .exitOverride();
  registerStart(program);
  registerSubmit(program);
  registerWatch(program);
  registerControl(program);
  registerChart(program);
  registerInspect(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof CliError || error instanceof LeaseholdError) {
      process.stderr.write(`leasehold: ${error.message}\n`);
      process.exitCode = error instanceof CliError ? error.exitCode : 2;
      return;
    }
    throw error;
  }
}
