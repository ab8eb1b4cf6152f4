import { Command, CommanderError } from 'commander';
import { LeaseholdError } from '../errors.js';
import { CliError } from './cli-error.js';
import { registerChart } from './commands/chart.js';
import { registerCompletion } from './commands/completion.js';
import { registerControl } from './commands/control.js';
import { registerCp } from './commands/cp.js';
import { registerExec } from './commands/exec.js';
import { registerSession } from './commands/session.js';
import { registerDeadLetters } from './commands/dead-letters.js';
import { registerInspect } from './commands/inspect.js';
import { registerList } from './commands/list.js';
import { registerLogs } from './commands/logs.js';
import { registerStart } from './commands/start.js';
import { registerSubmit } from './commands/submit.js';
import { registerWatch } from './commands/watch.js';
import { EXIT } from './exit-codes.js';
import { examples } from './help.js';
import { escapeControls } from './terminal.js';

export function buildProgram(): Command {
  const program = new Command('leasehold')
    .description('A control plane for short-lived workloads: submit with one LPUSH, watch every transition on NATS.')
    .version('0.1.0')
    .exitOverride();
  registerStart(program);
  registerSubmit(program);
  registerWatch(program);
  registerControl(program);
  registerList(program);
  registerLogs(program);
  registerExec(program);
  registerCp(program);
  registerSession(program);
  registerDeadLetters(program);
  registerChart(program);
  registerInspect(program);
  registerCompletion(program);
  addExamples(program);
  return program;
}

/** Examples for the program and for the commands registered in files of their own (start.ts). */
function addExamples(program: Command): void {
  const command = (name: string) => program.commands.find((c) => c.name() === name);
  examples(program, [
    ['everything on this machine: Redis, NATS and the control plane', 'leasehold dev'],
    ['run a workload and wait for its end', 'leasehold submit --wait -- echo hello'],
    ['watch every transition', 'leasehold watch'],
  ]);
  const start = command('start');
  if (start) {
    examples(start, [
      ['against Redis and NATS that run already', 'leasehold start --redis redis://10.0.0.5:6379 --nats nats://10.0.0.6:4222'],
      ['with Pods on Kubernetes, and sandboxed Pods for untrusted work', 'leasehold start --runtime kubernetes --sandbox kubernetes --runtime-class gvisor'],
    ]);
  }
  const dev = command('dev');
  if (dev) {
    examples(dev, [
      ['start redis-server, nats-server and the control plane on free ports', 'leasehold dev'],
      ['with Redis kept in memory only, removed at exit', 'leasehold dev --ephemeral'],
    ]);
  }
}

/**
 * `submit --wait` answers for the workload, so its usage errors take the CLI's own code (125)
 * rather than one a workload could exit with; see exit-codes.ts.
 */
function waitingSubmit(argv: string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  const before = end === -1 ? args : args.slice(0, end);
  // `exec` passes its command's exit code through, so its usage errors are the CLI's own too.
  if (before[0] === 'exec' || before[0] === 'cp') return true;
  return before[0] === 'submit' && before.some((a) => a === '--wait' || a === '-w' || a === '--follow');
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with 0; a wrong command line is a usage error (2), as getopt tools have it.
      process.exitCode = error.exitCode === 0 ? 0 : waitingSubmit(argv) ? EXIT.cliFailed : EXIT.usage;
      return;
    }
    if (error instanceof CliError || error instanceof LeaseholdError) {
      // Messages quote ids, reasons and errors from the bus: never raw to a terminal.
      process.stderr.write(`leasehold: ${escapeControls(error.message, { multiline: true })}\n`);
      process.exitCode = error instanceof CliError ? error.exitCode : 2;
      return;
    }
    throw error;
  }
}
