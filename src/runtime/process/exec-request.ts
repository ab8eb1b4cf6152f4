import { constants } from 'node:os';
import type { ExecResult } from '../exec.js';

/** A signal's death as a shell (and the kubelet) reports it: 128 + its number, so every runtime agrees. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  const number = signal ? constants.signals[signal] : undefined;
  return number === undefined ? null : 128 + number;
}

export const CANCELLED: ExecResult = { exitCode: null, reason: 'cancelled' };
