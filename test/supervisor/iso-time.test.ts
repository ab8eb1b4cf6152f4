import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isoTime } from '../../src/clock.js';

describe('isoTime: the time of a transition message, as Date would write it', () => {
  it('matches toISOString for times around second, day, year and leap boundaries, and at random', () => {
    const times = [0, 1, 999, 1000, 1001, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(2026, 11, 31, 23, 59, 59, 990), 253_402_300_799_999];
    for (let i = 0; i < 20_000; i++) times.push(Math.floor(Math.random() * 253_402_300_800_000));
    // The same second asked again after another (the cache must follow), and in descending order.
    times.push(1_796_000_000_123, 1_796_000_001_004, 1_796_000_000_999, 1_796_000_000_000);
    for (const ms of times) assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  });

  it('falls back to Date for what the fast path does not cover: fractions, before 1970, past 9999', () => {
    for (const ms of [1.5, -1, -86_400_000, 253_402_300_800_000]) assert.equal(isoTime(ms), new Date(ms).toISOString());
    assert.throws(() => isoTime(NaN), RangeError, 'an invalid time is refused as Date refuses it');
  });
});
