import type { LifecycleState } from '../../machines/index.js';
import type { TransitionMessage, WorkloadStatus } from '../events/transition.js';
import { escapeControls, inline, paint } from './terminal.js';

/**
 * Human output. Every field that arrives off NATS is escaped (see terminal.ts): the error and
 * `waiting` are a workload's or a runtime's words, and whoever may publish on the bus chooses ids.
 */

function stateColour(state: LifecycleState, reason?: string, width = 12): string {
  const text = state.padEnd(width);
  if (state === 'tornDown') return paint(reason === 'completed' ? 'green' : 'red', text);
  if (state === 'running') return paint('cyan', text);
  return text;
}

function reasonText(reason: string): string {
  return paint(reason === 'completed' ? 'green' : 'red', `reason=${inline(reason)}`);
}

export function formatTransition(t: TransitionMessage): string {
  const time = inline(t.at.slice(11, 23));
  const detail = [
    t.reason ? reasonText(t.reason) : '',
    t.exitCode !== undefined ? `exitCode=${t.exitCode}` : '',
    t.error ? `error="${inline(t.error)}"` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return `${paint('dim', time)}  ${inline(t.id)}  ${(t.from ?? '∅').padEnd(12)} → ${stateColour(t.to, t.reason)} ${inline(t.event)}${detail ? `  ${detail}` : ''}`;
}

/** A multi-line field, its continuation lines indented under the first so none can pose as a field. */
function field(label: string, text: string): string {
  const pad = ' '.repeat(12);
  return `  ${`${label}:`.padEnd(10)}${escapeControls(text, { multiline: true }).replace(/\r?\n/g, `\n${pad}`)}`;
}

export function formatStatus(s: WorkloadStatus): string {
  const lines = [`${inline(s.id)} (${s.type}): ${stateColour(s.state, s.reason, 0)}`];
  if (s.reason) lines.push(`  reason:   ${paint(s.reason === 'completed' ? 'green' : 'red', inline(s.reason))}`);
  if (s.exitCode !== undefined) lines.push(`  exitCode: ${s.exitCode}`);
  if (s.error) lines.push(field('error', s.error));
  if (s.waiting) lines.push(field('waiting', s.waiting));
  for (const [state, at] of Object.entries(s.timings)) lines.push(`  ${state.padEnd(13)} ${inline(at)}`);
  return lines.join('\n');
}
