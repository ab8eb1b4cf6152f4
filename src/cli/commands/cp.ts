import { open, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { execInWorkload } from '../../client/exec.js';
import { DEFAULT_READ_MAX_BYTES, readFileIn, writeFileIn, type ExecFn } from '../../client/files.js';
import { LeaseholdError } from '../../errors.js';
import { DNS1123_LABEL, MAX_ID_LENGTH } from '../../spec/index.js';
import { CliError } from '../cli-error.js';
import { openNats } from '../clients.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import { natsTargetOf, subjectsOf, withNatsConnection, type InstallationOptions, type NatsAuthOptions } from '../options.js';
import { inline } from '../terminal.js';

interface CpCliOptions extends NatsAuthOptions, InstallationOptions {
  maxBytes: number;
  mode?: string;
}

export type CpEnd = { readonly kind: 'local'; readonly path: string } | { readonly kind: 'workload'; readonly id: string; readonly path: string };

/**
 * `<id>:<path>` names a file in a workload; anything else is local (`-` is stdin or stdout). An id
 * is a DNS-1123 label, so `./a:b` or `/x:y` are always local; a local name like `a:b` needs `./`.
 */
export function parseCpEnd(arg: string): CpEnd {
  const colon = arg.indexOf(':');
  if (colon > 0) {
    const id = arg.slice(0, colon);
    if (id.length <= MAX_ID_LENGTH && DNS1123_LABEL.test(id)) {
      const path = arg.slice(colon + 1);
      if (path === '') throw new CliError(`"${inline(arg)}" names workload ${id} but no path inside it`, EXIT.cliFailed);
      return { kind: 'workload', id, path };
    }
  }
  return { kind: 'local', path: arg };
}

function byteCount(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new CliError(`--max-bytes takes a whole number of bytes, not "${inline(value)}"`, EXIT.cliFailed);
  return n;
}

export function registerCp(program: Command): void {
  const command = withNatsConnection(
    program
      .command('cp')
      .description('copy a file into a running workload or out of one (exit 0, or 125 when it failed)')
      .argument('<from>', 'a local file, - for stdin, or <id>:<path>')
      .argument('<to>', 'a local file, - for stdout, or <id>:<path>')
      .option('--max-bytes <n>', 'refuse to read more than this many bytes out of a workload', byteCount, DEFAULT_READ_MAX_BYTES)
      .option('--mode <octal>', 'permission bits of the file written into the workload (e.g. 755)'),
  ).action(async (fromArg: string, toArg: string, options: CpCliOptions) => {
    const from = parseCpEnd(fromArg);
    const to = parseCpEnd(toArg);
    if ((from.kind === 'workload') === (to.kind === 'workload')) {
      throw new CliError('one side of cp must be <id>:<path> and the other a local file (or -)', EXIT.cliFailed);
    }
    const nc = await openNats(natsTargetOf(options)).catch((error: unknown) => {
      throw error instanceof CliError || error instanceof LeaseholdError ? new CliError(error.message, EXIT.cliFailed) : error;
    });
    const exec: ExecFn = (id, cmd, execOptions = {}) => execInWorkload(nc, subjectsOf(options), id, cmd, execOptions, 5_000);
    try {
      if (to.kind === 'workload' && from.kind === 'local') {
        // A missing local file is found before anything runs in the workload.
        const source =
          from.path === '-'
            ? process.stdin
            : (
                await open(from.path).catch((error: unknown) => {
                  throw new CliError(`cannot read ${inline(from.path)}: ${(error as Error).message}`, EXIT.cliFailed);
                })
              ).createReadStream();
        await writeFileIn(exec, to.id, to.path, source, options.mode !== undefined ? { mode: options.mode } : {});
      } else if (from.kind === 'workload' && to.kind === 'local') {
        const bytes = await readFileIn(exec, from.id, from.path, { maxBytes: options.maxBytes });
        if (to.path === '-') await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (error) => (error ? reject(error) : resolve())));
        else await writeFile(to.path, bytes);
      }
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (error instanceof LeaseholdError) throw new CliError(error.message, EXIT.cliFailed);
      if (error instanceof Error && 'code' in error) throw new CliError(error.message, EXIT.cliFailed); // a local file system error
      throw error;
    } finally {
      if (from.kind === 'local' && from.path === '-') process.stdin.destroy();
      await nc.close();
    }
  });
  examples(command, [
    ['copy a local file into a running workload', 'leasehold cp ./main.py my-session:/tmp/main.py'],
    ['copy one out', 'leasehold cp my-session:/tmp/out.json ./out.json'],
    ['through a pipe, with a limit on what is read', 'leasehold cp --max-bytes 1048576 my-session:/var/log/app.log - | tail'],
    ['from stdin, executable', 'echo "echo hi" | leasehold cp --mode 755 - my-session:/tmp/hi.sh'],
  ]);
}
