import { inline, paint } from '../terminal.js';
import type { ListedWorkload } from './listed-workload.js';

/**
 * The table of `leasehold list`, kubectl's way: upper-case headers, columns three spaces apart,
 * ages as `45s`, `3m20s`, `5h`. Every cell that a submitter, a workload or a runtime wrote (id,
 * image, labels, the runtime's `waiting`, the error) goes through `inline`, so no escape sequence
 * in it reaches the terminal and no newline in it breaks a row.
 */

/** kubectl's HumanDuration: precise while it is short, coarser as it grows. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

/** How far a table's REASON goes before it is cut (`-o wide` shows it whole). */
const REASON_WIDTH = 60;

function cut(text: string, width: number): string {
  const chars = Array.from(text);
  return chars.length <= width ? text : `${chars.slice(0, width - 1).join('')}…`;
}

/** Why it is where it is: how it ends once that is decided, else what it waits for. */
export function reasonOf(w: ListedWorkload): string {
  if (w.reason) return w.exitCode !== null ? `${w.reason} (exit ${w.exitCode})` : w.reason;
  if (w.waiting) return `waiting: ${w.waiting}`;
  if (w.error) return `error: ${w.error}`;
  return '-';
}

function labelsOf(w: ListedWorkload): string {
  const entries = Object.entries(w.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

function paintState(state: string, padded: string): string {
  if (state === 'running') return paint('cyan', padded);
  if (state === 'expiring') return paint('yellow', padded);
  return padded;
}

interface Column {
  readonly header: string;
  readonly cell: (w: ListedWorkload) => string;
  readonly paint?: (w: ListedWorkload, padded: string) => string;
}

/** `finished`: finished workloads were asked for, so an ENDED column (how long ago) follows AGE. */
export function renderTable(rows: readonly ListedWorkload[], now: number, wide: boolean, finished = false): string {
  const columns: Column[] = [
    { header: 'ID', cell: (w) => inline(w.id) },
    { header: 'TYPE', cell: (w) => w.type },
    { header: 'STATE', cell: (w) => w.state, paint: (w, padded) => paintState(w.state, padded) },
    { header: 'AGE', cell: (w) => (w.createdAt ? formatAge(now - Date.parse(w.createdAt)) : '-') },
    ...(finished ? [{ header: 'ENDED', cell: (w: ListedWorkload) => (w.endedAt ? formatAge(now - Date.parse(w.endedAt)) : '-') }] : []),
    { header: 'REASON', cell: (w) => (wide ? inline(reasonOf(w)) : cut(inline(reasonOf(w)), REASON_WIDTH)) },
  ];
  if (wide) {
    columns.push(
      { header: 'IMAGE', cell: (w) => inline(w.image) },
      { header: 'SHARD', cell: (w) => String(w.shard) },
      { header: 'OWNER', cell: (w) => inline(w.owner ?? '<none>') },
      { header: 'REPLICA', cell: (w) => inline(w.replica ?? '<none>') },
      { header: 'LABELS', cell: (w) => inline(labelsOf(w)) },
    );
  }
  const cells = rows.map((w) => columns.map((c) => c.cell(w)));
  // A loop, not Math.max(...cells): a spread of 100,000 arguments overflows the stack.
  const widths = columns.map((c, i) => cells.reduce((most, row) => Math.max(most, Array.from(row[i]!).length), c.header.length));
  const pad = (text: string, i: number) => (i === columns.length - 1 ? text : text + ' '.repeat(widths[i]! - Array.from(text).length));
  const header = paint('bold', columns.map((c, i) => pad(c.header, i)).join('   ').trimEnd());
  const lines = rows.map((w, r) =>
    columns
      .map((c, i) => {
        const padded = pad(cells[r]![i]!, i);
        return c.paint ? c.paint(w, padded) : padded;
      })
      .join('   '),
  );
  return `${[header, ...lines].join('\n')}\n`;
}
