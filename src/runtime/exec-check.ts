import { RuntimeError } from '../errors.js';
import { RESERVED_ENV_PREFIX } from '../spec/schema.js';
import type { ExecRequest } from './exec.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * argv, env and cwd together, in bytes. A sandbox's exec request travels as one line of its
 * control pipe, and any exec ends in execve, which refuses more than the kernel's ARG_MAX anyway.
 */
export const MAX_EXEC_REQUEST_BYTES = 256 * 1024;

/**
 * Refuses, before anything runs, what no runtime's exec can carry: an empty command, NUL bytes (they
 * would cut an argument short on the way to execve), env names that are not variable names or that
 * are the control plane's own (as the spec schema refuses them), an unusable timeout.
 */
export function checkExecRequest(request: ExecRequest): void {
  if (request.cmd.length === 0 || request.cmd[0] === '') throw invalid('exec needs a command (cmd is empty)');
  const env = Object.entries(request.env ?? {});
  const strings = [...request.cmd, ...env.flat(), request.cwd ?? ''];
  if (strings.some((s) => s.includes('\0'))) throw invalid('exec arguments, env and cwd cannot contain NUL bytes');
  const badName = env.find(([name]) => !ENV_NAME.test(name));
  if (badName) throw invalid(`exec env name ${JSON.stringify(badName[0])} is not a valid variable name`);
  const reserved = env.find(([name]) => name.startsWith(RESERVED_ENV_PREFIX));
  if (reserved) throw invalid(`exec env name ${reserved[0]} is reserved for the control plane (${RESERVED_ENV_PREFIX}…)`);
  if (request.cwd === '') throw invalid('exec cwd is empty');
  const size = strings.reduce((sum, s) => sum + Buffer.byteLength(s) + 1, 0);
  if (size > MAX_EXEC_REQUEST_BYTES) throw invalid(`exec request is ${size} bytes of argv, env and cwd; the limit is ${MAX_EXEC_REQUEST_BYTES}`);
  const timeout = request.timeoutMs;
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
    throw invalid(`exec timeoutMs must be a positive number of milliseconds, not ${timeout}`);
  }
}

function invalid(message: string): RuntimeError {
  return new RuntimeError('INVALID_EXEC', message);
}
