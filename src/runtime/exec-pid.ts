/**
 * A command started through `/bin/sh -c '<PID_LINE>exec "$@"'` writes its pid to stderr as its
 * first line before anything else runs (`exec` keeps the pid, so it is the command's), where an
 * exec API has no signal of its own: a second exec can then signal it (a graceful stop, a cancel
 * that closing a stream does not carry). `pidLineFirst` takes that line off again, so the
 * command's own stderr reaches its reader whole.
 */
export const PID_LINE = 'printf "LEASEHOLD_EXEC_PID=%s\\n" "$$" >&2; ';
const PID_MARKER = /^LEASEHOLD_EXEC_PID=(\d+)\n/;

/** The pid line, taken off the front of stderr; everything after it is passed on. */
export function pidLineFirst(deliver: (chunk: Uint8Array) => void, found: (pid: number) => void): (chunk: Uint8Array) => void {
  let head: Buffer | null = Buffer.alloc(0);
  return (chunk) => {
    if (head === null) return deliver(chunk);
    head = Buffer.concat([head, chunk]);
    const newline = head.indexOf(10);
    if (newline < 0 && head.length < 64) return;
    const match = PID_MARKER.exec(head.subarray(0, newline + 1).toString('latin1'));
    const rest = match ? head.subarray(newline + 1) : head;
    if (match) found(Number(match[1]));
    head = null;
    if (rest.length > 0) deliver(rest);
  };
}
