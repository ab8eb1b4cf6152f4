import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../../bin/leasehold.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `leasehold <args>` to completion, as a user would from a shell. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Starts a long-running `leasehold start …` and resolves once it logs that it started;
 * `fdLimit` runs it under `ulimit -n`, as a host with few file descriptors would.
 */
export async function startCliControlPlane(
  args: string[],
  options: { fdLimit?: number } = {},
): Promise<{ child: ChildProcess; logs: () => string; exited: Promise<number | null> }> {
  const child = options.fdLimit
    ? spawn('sh', ['-c', `ulimit -n ${options.fdLimit} && exec "$0" "$@"`, process.execPath, BIN, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [BIN, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`control plane did not start:\n${logs}`)), 15_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      logs += chunk.toString();
      if (logs.includes('control plane started')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`control plane exited with ${code}:\n${logs}`)));
  });
  return { child, logs: () => logs, exited };
}

/**
 * Starts `leasehold inspect …` and resolves with its URL once it serves, and the token its link
 * carries (null when given --http-tokens); `stop` ends it.
 */
export async function startCliInspector(args: string[]): Promise<{ url: string; token: string | null; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'inspect', '--http-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const { url, token } = await new Promise<{ url: string; token: string | null }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /inspector: (http:\/\/[^/\s]+)\/(?:#token=(\S+))?\s/.exec(out);
        if (match) resolve({ url: match[1]!, token: match[2] ?? null });
      });
      child.once('exit', (code) => reject(new Error(`inspect exited with ${code}`)));
    });
    return { url, token, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A word for `sh -c`, quoted so that the shell passes it through as it is. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs `leasehold <args>` on a pseudo-terminal, as a person at a terminal would, through
 * util-linux `script`: stdout and stderr both reach the terminal, and come back together in
 * `stdout`. `stty -onlcr` stops the terminal from turning each `\n` into `\r\n`, so that a `\r`
 * in the output is one the CLI wrote.
 */
export function runCliInTerminal(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const line = `stty -onlcr; exec ${[process.execPath, BIN, ...args].map(shellQuote).join(' ')}`;
  return new Promise((resolve, reject) => {
    // --return: script exits with the command's code.
    const child = spawn('script', ['--quiet', '--return', '--command', line, '/dev/null'], {
      // A terminal as a person has one: Node turns colour off when CI is set (CI runs this suite so).
      env: { ...withoutCi(process.env), TERM: 'xterm-256color', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running `leasehold <args>` (watch, submit --follow): its output so far, and its end. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => CliResult; exited: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { child, output: () => ({ code: child.exitCode, stdout, stderr }), exited };
}

function withoutCi(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { CI: _ci, ...rest } = env;
  return rest;
}

/** What bash offers after typing `line` (the cursor at its end), from `leasehold completion bash`. */
export function bashCompletes(line: string): string[] {
  const script = [
    `source <(${shellQuote(process.execPath)} ${shellQuote(BIN)} completion bash)`,
    `COMP_WORDS=(${line.split(' ').map(shellQuote).join(' ')})`,
    'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))',
    '_leasehold',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const result = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`completion failed: ${result.stderr}`);
  return result.stdout.split('\n').filter(Boolean);
}
