import { styleText } from 'node:util';

/**
 * What reaches a terminal from text that someone else wrote (a workload's output, its error, an
 * id or a reason off NATS). A terminal obeys escape sequences in what it prints: OSC 0 retitles
 * the window, OSC 52 writes the clipboard (the next paste runs the attacker's command), CSI moves
 * the cursor and erases, and a bare `\r` rewrites the start of the line, so a workload could
 * print a forged "reason=completed" over the real "failed". C1 controls (U+0080–U+009F; U+009B is
 * a one-character CSI to some terminals) and the bidirectional overrides (which reorder what is
 * shown, "Trojan Source") are caught too.
 */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `\x1b`, `\r`, `\u202e`: visible, unambiguous, and inert. */
function visible(char: string): string {
  const code = char.charCodeAt(0);
  if (char === '\r') return '\\r';
  if (char === '\n') return '\\n';
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Text made safe for a terminal: every control character shown as an escape. `multiline` keeps
 * `\n` (and the `\r` of a `\r\n` line end, which cannot forge anything); `\t` is always kept.
 */
export function escapeControls(text: string, options: { multiline: boolean }): string {
  return text.replace(CONTROL, (char, offset: number, whole: string) => {
    if (options.multiline && (char === '\n' || (char === '\r' && whole[offset + 1] === '\n'))) return char;
    return visible(char);
  });
}

/** Free text inside one line of human output (an error, a reason, an id): never breaks the line. */
export function inline(text: string): string {
  return escapeControls(text, { multiline: false });
}

export function isTerminal(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true;
}

/**
 * Output that is data (a workload's logs) goes to a pipe or file byte for byte; to a terminal it
 * is escaped, because there it is no longer data but instructions to the terminal.
 */
export function forStream(text: string, stream: NodeJS.WriteStream): string {
  return isTerminal(stream) ? escapeControls(text, { multiline: true }) : text;
}

type Style = 'red' | 'green' | 'yellow' | 'cyan' | 'dim' | 'bold' | 'gray';

/**
 * Colour for a terminal only: `styleText` checks the stream is a TTY and honours NO_COLOR,
 * NODE_DISABLE_COLORS and FORCE_COLOR, so piped output and NO_COLOR users get plain text.
 */
export function paint(style: Style, text: string, stream: NodeJS.WriteStream = process.stdout): string {
  return styleText(style, text, { stream });
}
