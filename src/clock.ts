/**
 * Time as a port. The same shape as XState's clock plus `now()`, so one object drives both the
 * machine's `after` timers and everything that reads the time; tests pass a simulated one.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

let cachedSecond = NaN;
let cachedPrefix = '';

/**
 * `new Date(ms).toISOString()`, without a Date: every transition message carries its time, and
 * formatting one took about 1.9 µs, five times per workload. The text up to the second is kept
 * for the second it names; only the milliseconds are written each time. Same output for every
 * time a Date can format as `YYYY-MM-DDTHH:mm:ss.sssZ` (years 0 to 9999).
 */
export function isoTime(ms: number): string {
  // Outside 1970..9999 or a fraction of a millisecond (a simulated clock): as Date formats it.
  if (!Number.isInteger(ms) || ms < 0 || ms >= 253_402_300_800_000) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const millis = ms - second * 1000;
  return `${cachedPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}
