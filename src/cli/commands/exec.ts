import type { Command } from 'commander';
import { execInWorkload } from '../../client/exec.js';
import { LeaseholdError } from '../../errors.js';
import { CliError } from '../cli-error.js';
import { openNats } from '../clients.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import { natsTargetOf, subjectsOf, withNatsConnection, type InstallationOptions, type NatsAuthOptions } from '../options.js';
import { inline } from '../terminal.js';

interface ExecCliOptions extends NatsAuthOptions, InstallationOptions {
  stdin: boolean;
  env: string[];
  cwd?: string;
  timeout?: number;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function envPairs(values: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at < 1) throw new CliError(`--env takes NAME=value, not "${inline(value)}"`, EXIT.cliFailed);
    env[value.slice(0, at)] = value.slice(at + 1);
  }
  return env;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`--timeout takes a positive number of seconds, not "${inline(value)}"`, EXIT.cliFailed);
  return n;
}

/**
 * What `leasehold exec` exits with: the command's own code (0–255) when it has one; 124 when its
 * `--timeout` ended it; 126 when it ended without a code (cancelled, its reader lost, the control
 * plane stopping); 125 when the CLI or the exec failed (nothing ran, or the stream broke); 130 on
 * Ctrl-C (the command is stopped). Codes as `docker exec`/`timeout(1)` use them.
 */
export function exitCodeOfExec(result: { exitCode: number | null; reason?: string }): number {
  const { exitCode, reason } = result;
  if (exitCode !== null && Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 255) return exitCode;
  return reason === 'timeout' ? EXIT.timeout : EXIT.noExitCode;
}

export function registerExec(program: Command): void {
  const command = withNatsConnection(
    program
      .command('exec')
      .description("run a command inside a running workload: its output streamed, its exit code the CLI's")
      .argument('<id>', 'the workload (running)')
      .argument('<command...>', 'the program and its arguments (after --)')
      .option('-i, --stdin', 'send this terminal’s standard input to the command', false)
      .option('-e, --env <NAME=value>', 'environment variable for this command (repeatable)', collect, [])
      .option('--cwd <dir>', 'working directory inside the workload')
      .option('--timeout <s>', 'end the command after this many seconds (then exit 124)', seconds),
  ).action(async (id: string, cmd: string[], options: ExecCliOptions) => {
    const env = envPairs(options.env);
    const nc = await openNats(natsTargetOf(options)).catch((error: unknown) => {
      // Its usual code (1, 2) is one the command could exit with: the CLI's own failure is 125.
      throw error instanceof CliError || error instanceof LeaseholdError ? new CliError(error.message, EXIT.cliFailed) : error;
    });
    const handle = execInWorkload(
      nc,
      subjectsOf(options),
      id,
      cmd,
      {
        ...(options.env.length > 0 ? { env } : {}),
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        ...(options.timeout !== undefined ? { timeoutMs: Math.ceil(options.timeout * 1000) } : {}),
        ...(options.stdin ? { stdin: process.stdin } : {}),
        // The command's own bytes, as `kubectl exec` and `docker exec` pass them: the user asked for them.
        onStdout: (chunk) => process.stdout.write(chunk),
        onStderr: (chunk) => process.stderr.write(chunk),
      },
      5_000,
    );
    let interrupted = false;
    const interrupt = () => {
      interrupted = true;
      handle.abort();
    };
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    try {
      const result = await handle.result;
      process.exitCode = exitCodeOfExec(result);
      if (result.exitCode === null) process.stderr.write(`leasehold: the command in ${inline(id)} ended without an exit code (${inline(result.reason ?? 'no reason given')}); exit code ${process.exitCode}\n`);
    } catch (error) {
      if (interrupted) throw new CliError(`interrupted; the command in ${inline(id)} was cancelled`, 130);
      if (error instanceof LeaseholdError) throw new CliError(error.message, EXIT.cliFailed);
      throw error;
    } finally {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      if (options.stdin) process.stdin.destroy();
      await nc.close();
    }
  });
  examples(command, [
    ['run a command in a running workload; exits with its exit code', 'leasehold exec my-session -- python -c "print(6 * 7)"'],
    ['with environment, a working directory and a time limit', 'leasehold exec my-session --env DEBUG=1 --cwd /work --timeout 30 -- make test'],
    ['pipe a file in', 'leasehold exec -i my-session -- sh -c "wc -l" < data.csv'],
  ]);
}
