/**
 * What is new in a workload's output between two reads. The control plane answers with the tail
 * of the output (the last N bytes), not an offset, so while the output grows past that window
 * the new read starts later than the old one: the new part is what follows the longest end of
 * the old read that the new read starts with. Output that repeats itself exactly (the same line
 * over a whole window) can hide new lines from this; an offset in the logs reply would end that
 * guesswork (see the README (The CLI)).
 */
export function newOutput(previous: string, next: string): string {
  if (next.startsWith(previous)) return next.slice(previous.length);
  // Candidates for where `next` begins inside `previous`, found by its first characters.
  const anchor = next.slice(0, 64);
  for (let at = previous.indexOf(anchor, 1); at !== -1; at = previous.indexOf(anchor, at + 1)) {
    if (next.startsWith(previous.slice(at))) return next.slice(previous.length - at);
  }
  // Shorter than the anchor: the old read's end is a prefix of the anchor itself.
  for (let at = Math.max(1, previous.length - anchor.length + 1); at < previous.length; at++) {
    if (next.startsWith(previous.slice(at))) return next.slice(previous.length - at);
  }
  return next;
}

/** The last `lines` lines of `text` (a final line without `\n` counts as one), as `tail -n` gives them. */
export function lastLines(text: string, lines: number): string {
  if (lines <= 0) return '';
  let end = text.endsWith('\n') ? text.length - 1 : text.length;
  for (let n = 0; n < lines; n++) {
    const at = text.lastIndexOf('\n', end - 1);
    if (at === -1) return text;
    end = at;
  }
  return text.slice(end + 1);
}
