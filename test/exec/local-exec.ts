import { spawn } from 'node:child_process';
import type { ExecOutput, ExecRequest, ExecResult } from '../../src/runtime/exec.js';

/**
 * A tiny exec for tests of the NATS protocol alone: runs the command as a local child process and
 * kills it on timeout or cancellation, so a test can see that a cancelled command stops.
 */
export async function localExec(request: ExecRequest, output: ExecOutput, signal: AbortSignal): Promise<ExecResult> {
  const child = spawn(request.cmd[0]!, request.cmd.slice(1), {
    env: { PATH: process.env.PATH, ...request.env },
    ...(request.cwd ? { cwd: request.cwd } : {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => output.stdout(chunk));
  child.stderr.on('data', (chunk: Buffer) => output.stderr(chunk));
  child.stdin.on('error', () => undefined);
  if (request.stdin) {
    void (async () => {
      for await (const chunk of request.stdin!) child.stdin.write(chunk);
      child.stdin.end();
    })();
  } else child.stdin.end();
  let reason: string | undefined;
  const stop = (why: string) => {
    reason ??= why;
    child.kill('SIGKILL');
  };
  const timer = request.timeoutMs ? setTimeout(() => stop('timeout'), request.timeoutMs) : null;
  const onAbort = () => stop('cancelled');
  signal.addEventListener('abort', onAbort, { once: true });
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  if (timer) clearTimeout(timer);
  signal.removeEventListener('abort', onAbort);
  return reason ? { exitCode: null, reason } : { exitCode: code };
}
