import type { DestinationStream } from 'pino';
import { escapeControls, inline, isTerminal, paint } from './terminal.js';

/**
 * How `leasehold dev` writes its log: JSON lines for programs (a pipe, a file, a log shipper),
 * one readable line per entry for a person at a terminal.
 *
 * Formatted here rather than by pino-pretty: it would add a dozen packages for one dev
 * convenience, it runs as a worker-thread transport whose last lines can be lost when the
 * process dies, and what it prints must be as terminal-safe as the rest of the CLI. Log entries
 * carry words Leasehold did not choose (a refused payload's reason, a runtime's error, a
 * workload's exit detail); here they go through the same escaping as every other human output
 * (terminal.ts), so a submitter cannot retitle the operator's window through the log.
 */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `auto`: readable when stderr, where the log goes, is a terminal. */
export function resolveLogFormat(format: LogFormat, stream: NodeJS.WriteStream = process.stderr): 'pretty' | 'json' {
  if (format !== 'auto') return format;
  return isTerminal(stream) ? 'pretty' : 'json';
}

/** Where pino writes: null for its default JSON destination (createLogger's). */
export function logDestination(format: LogFormat, stream: NodeJS.WriteStream = process.stderr): DestinationStream | null {
  if (resolveLogFormat(format, stream) === 'json') return null;
  // Synchronous, in this thread: lines keep their order with what the CLI prints on stdout.
  return { write: (line: string) => void stream.write(formatLogLine(line, stream)) };
}

const LEVELS: Record<number, { name: string; style: 'gray' | 'green' | 'yellow' | 'red' }> = {
  10: { name: 'TRACE', style: 'gray' },
  20: { name: 'DEBUG', style: 'gray' },
  30: { name: 'INFO', style: 'green' },
  40: { name: 'WARN', style: 'yellow' },
  50: { name: 'ERROR', style: 'red' },
  60: { name: 'FATAL', style: 'red' },
};

/** Said once at the start (dev prints them), or the same on every line of one process. */
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'replica', 'component', 'err']);

function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** `key=value`, the value quoted when it holds a space, a quote or an `=` (so the line parses back). */
function field(key: string, value: unknown): string {
  const text = typeof value === 'string' ? (/^[^\s"=]*$/.test(value) && value !== '' ? value : JSON.stringify(value)) : JSON.stringify(value);
  return `${inline(key)}=${inline(text ?? String(value))}`;
}

function errorLines(err: unknown, stream: NodeJS.WriteStream): string {
  if (typeof err !== 'object' || err === null) return err === undefined ? '' : `  ${field('err', err)}`;
  const { stack, message } = err as { stack?: unknown; message?: unknown };
  const text = typeof stack === 'string' ? stack : typeof message === 'string' ? message : JSON.stringify(err);
  // The stack's lines, indented under the entry so none of them can pass for an entry of its own.
  return `\n${paint('dim', escapeControls(text, { multiline: true }).replace(/^/gm, '    '), stream)}`;
}

/** One pino JSON line as one readable line (plus an error's stack, indented). */
export function formatLogLine(line: string, stream: NodeJS.WriteStream = process.stderr): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${escapeControls(line.replace(/\n$/, ''), { multiline: false })}\n`;
  }
  if (typeof entry !== 'object' || entry === null) return `${inline(line.trim())}\n`;
  const level = LEVELS[Number(entry.level)] ?? { name: String(entry.level), style: 'gray' as const };
  const time = typeof entry.time === 'number' ? clock(entry.time) : '--:--:--.---';
  const component = typeof entry.component === 'string' ? `${paint('dim', `[${inline(entry.component)}]`, stream)} ` : '';
  const msg = typeof entry.msg === 'string' ? inline(entry.msg) : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => field(key, value))
    .join(' ');
  const head = `${paint('dim', time, stream)} ${paint(level.style, inline(level.name).padEnd(5), stream)} ${component}${msg}`;
  return `${head}${fields ? `  ${fields}` : ''}${errorLines(entry.err, stream)}\n`;
}
