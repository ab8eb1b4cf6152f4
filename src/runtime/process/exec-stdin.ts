import { once } from 'node:events';
import type { Writable } from 'node:stream';

/**
 * Copies an exec's stdin into the command (a child's pipe, or a sandbox exec's FIFO), waiting
 * while it is full, and ends it at the source's end. Shared by the host and sandbox execs.
 */
export async function pumpStdin(source: AsyncIterable<Uint8Array>, into: Writable, stop: AbortSignal): Promise<void> {
  // The command may close its stdin or exit without reading it: EPIPE is its answer, not an error.
  into.on('error', () => undefined);
  const gone = new Promise<void>((resolve) => {
    into.once('close', resolve);
    stop.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    for await (const chunk of source) {
      if (stop.aborted || into.destroyed) return;
      if (!into.write(chunk)) await Promise.race([once(into, 'drain'), gone]);
    }
    if (!stop.aborted) into.end();
  } catch {
    // A failing stdin source ends the command's stdin, nothing more.
    into.end();
  }
}
