import type { TransitionMessage, WorkloadStatus } from '../events/transition.js';

export function formatTransition(t: TransitionMessage): string {
  const time = t.at.slice(11, 23);
  const detail = [
    t.reason ? `reason=${t.reason}` : '',
    t.exitCode !== undefined ? `exitCode=${t.exitCode}` : '',
    t.error ? `error="${t.error}"` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return `${time}  ${t.id}  ${(t.from ?? '∅').padEnd(12)} → ${t.to.padEnd(12)} ${t.event}${detail ? `  ${detail}` : ''}`;
}

export function formatStatus(s: WorkloadStatus): string {
  const lines = [`${s.id} (${s.type}): ${s.state}`];
  if (s.reason) lines.push(`  reason:   ${s.reason}`);
  if (s.exitCode !== undefined) lines.push(`  exitCode: ${s.exitCode}`);
  if (s.error) lines.push(`  error:    ${s.error}`);
  if (s.waiting) lines.push(`  waiting:  ${s.waiting}`);
  for (const [state, at] of Object.entries(s.timings)) lines.push(`  ${state.padEnd(13)} ${at}`);
  return lines.join('\n');
}
