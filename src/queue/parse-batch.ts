import { setImmediate as nextTurn } from 'node:timers/promises';
import { parseSubmission, type ParseResult } from '../spec/index.js';

/**
 * Validating takes up to a few milliseconds per entry (a 64 KiB JSON.parse, the schema), and a
 * batch holds hundreds: validated in one go, a batch of hostile entries held the event loop for
 * seconds, long enough for leases to lapse and probes to fail. So the batch is validated in
 * slices of `budgetMs`, and between slices the loop runs timers and I/O (lease renewals, the
 * reaper, HTTP).
 */
export const PARSE_SLICE_MS = 10;

/** Each entry with its verdict, in order; yields to the event loop every `budgetMs` of work. */
export async function parseBatch(entries: readonly string[], maxPayloadBytes: number, budgetMs = PARSE_SLICE_MS): Promise<{ raw: string; parsed: ParseResult }[]> {
  const results: { raw: string; parsed: ParseResult }[] = [];
  // CPU time spent here, not a time anything waits for: the monotonic clock, not the injected one.
  let sliceStart = performance.now();
  for (const raw of entries) {
    results.push({ raw, parsed: parseSubmission(raw, maxPayloadBytes) });
    if (performance.now() - sliceStart >= budgetMs) {
      await nextTurn();
      sliceStart = performance.now();
    }
  }
  return results;
}
