import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSubmission } from '../../src/spec/index.js';
import { jsonErrorPosition } from '../../src/spec/json-error.js';

const SEED = { id: 'test-1', type: 'trusted', image: 'alpine', cmd: ['echo', 'hello'] };

function refusal(raw: string, maxBytes?: number): string {
  const result = parseSubmission(raw, maxBytes);
  assert.equal(result.ok, false, `expected ${raw.slice(0, 80)} to be refused`);
  return result.ok ? '' : result.reason;
}

describe('the JSON error of a hostile payload', () => {
  it('names the position after 30,000 unclosed [, not NaN', () => {
    assert.equal(refusal('['.repeat(30_000)), 'invalid JSON at position 30000');
  });

  it('names the position after a million unclosed [ and after deep unclosed objects', () => {
    assert.equal(refusal('['.repeat(1_000_000), 2_000_000), 'invalid JSON at position 1000000');
    assert.equal(jsonErrorPosition('{"a":'.repeat(200_000)), 1_000_000);
    assert.equal(jsonErrorPosition(`${'['.repeat(50_000)}1,}${']'.repeat(50_000)}`), 50_002);
  });

  it('refuses nesting that JSON.parse accepts for what it is, without overflowing', () => {
    const deepArray = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    assert.equal(refusal(deepArray, 1_000_000), 'payload must be a JSON object');
    const deepEnv = JSON.stringify({ ...SEED }).replace('}', `,"env":{"A":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}}`);
    assert.equal(refusal(deepEnv, 1_000_000), 'env.A: Invalid input: expected string, received object');
  });

  it('never says NaN, whatever breaks the JSON', () => {
    const hostile = [
      '['.repeat(65_000),
      '{"a":'.repeat(13_000),
      `"${'x'.repeat(60_000)}`,
      `{"id":"${'\\u12'.repeat(1_000)}`,
      '-'.repeat(50_000),
      `${'[1,'.repeat(20_000)}`,
      '\u0000',
    ];
    for (const raw of hostile) {
      const reason = refusal(raw);
      assert.match(reason, /^invalid JSON at position \d+$/, `${raw.slice(0, 20)}… → ${reason}`);
    }
  });
});

describe('range errors name the range', () => {
  const cases: [string, number, unknown[]][] = [
    ['leaseSeconds', 3600, [0, -1, 1.5, 2 ** 53, '1', null, 3601, 1e400]],
    ['maxLifetimeSeconds', 604_800, [0, -1, 1.5, 2 ** 53, '1', null, 604_801]],
  ];
  for (const [field, max, values] of cases) {
    for (const value of values) {
      it(`${field}: ${typeof value === 'string' ? JSON.stringify(value) : String(value)} is refused with the range 1 to ${max}`, () => {
        // 1e400 is JSON for a number no double holds; JSON.parse reads it as Infinity.
        const raw = value === 1e400 ? JSON.stringify(SEED).replace('}', `,"${field}":1e400}`) : JSON.stringify({ ...SEED, [field]: value });
        assert.equal(refusal(raw), `${field}: must be a whole number of seconds from 1 to ${max}`);
      });
    }
    it(`${field}: the bounds themselves are accepted`, () => {
      for (const value of [1, max]) assert.ok(parseSubmission(JSON.stringify({ ...SEED, [field]: value })).ok, String(value));
    });
  }
});
