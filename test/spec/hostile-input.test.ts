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
    assert.equal(refusal(deepEnv, 1_000_000), 'env.A: must be a string');
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

describe('a submission too big to validate cheaply', () => {
  const withField = (field: string, value: unknown) => JSON.stringify({ ...SEED, [field]: value });
  const many = (n: number, entry: (i: number) => [string, unknown]) => Object.fromEntries(Array.from({ length: n }, (_, i) => entry(i)));

  it('is refused with a reason that names the bound it broke', () => {
    // The attack as found: 30,000 numbers in cmd, 107 ms of schema work each, under 64 KiB.
    assert.equal(refusal(withField('cmd', Array(30_000).fill(1))), 'cmd: at most 4096 arguments (got 30000)');
    assert.equal(refusal(withField('cmd', Array(4_097).fill('x'))), 'cmd: at most 4096 arguments (got 4097)');
    assert.equal(refusal(withField('cmd', ['echo', ...Array(4_000).fill(1)])), 'cmd: must be an array of strings (exec) or a string (run by /bin/sh -c)');
    assert.equal(refusal(withField('env', many(1_025, (i) => [`E${i}`, '']))), 'env: at most 1024 entries (got 1025)');
    assert.equal(refusal(withField('env', { [`A${'x'.repeat(300)}`]: '' })), 'env: keys must be at most 256 characters (one has 301)');
    assert.equal(refusal(withField('env', { A: 1 })), 'env.A: must be a string');
    assert.equal(refusal(withField('labels', many(65, (i) => [`k${i}`, 'v']))), 'labels: at most 64 entries (got 65)');
    assert.equal(refusal(withField('labels', { k: 'v'.repeat(64) })), 'labels.k: values must be at most 63 characters (got 64)');
    // At the bounds, it is the schema's to judge, and a good one passes.
    assert.equal(parseSubmission(withField('cmd', Array(4_096).fill('x'))).ok, true);
    assert.equal(parseSubmission(withField('env', many(1_024, (i) => [`E${i}`, '']))).ok, true);
    assert.equal(parseSubmission(withField('labels', many(64, (i) => [`k${i}`, 'v']))).ok, true);
  });

  it('gets a reason of a few clauses, however many fields are wrong', () => {
    const reason = refusal(withField('env', many(1_000, (i) => [`-bad${i}`, ''])));
    assert.equal(reason.split('; ').length, 11, reason);
    assert.match(reason, /^env\.-bad0: names must look like VAR_NAME; .*; and more$/);
    const unknown = refusal(JSON.stringify({ ...SEED, ...many(3_000, (i) => [`k${i}`, 1]) }));
    assert.equal(unknown, 'unknown fields k0, k1, k2, k3, k4, k5, k6, k7, k8, k9 (3000 in all)');
  });
});

describe('what JavaScript or exec() would silently change', () => {
  it('refuses a NUL in cmd, as in env values: exec() would cut the argument there', () => {
    assert.equal(refusal(JSON.stringify({ ...SEED, cmd: ['echo', 'safe\u0000; rm -rf /'] })), 'cmd: must not contain NUL characters');
    assert.equal(refusal(JSON.stringify({ ...SEED, cmd: 'echo hi\u0000there' })), 'cmd: must not contain NUL characters');
  });

  it('refuses __proto__, constructor and prototype as env or label keys instead of dropping them', () => {
    // JSON.stringify cannot write an own __proto__ key; a producer's JSON can.
    const raw = (field: string, key: string) => JSON.stringify(SEED).replace(/}$/, `,"${field}":{"${key}":"x","OK":"y"}}`);
    for (const field of ['env', 'labels']) {
      for (const key of ['__proto__', 'constructor', 'prototype']) {
        assert.equal(refusal(raw(field, key)), `${field}: the key ${key} is not allowed (it names a property of JavaScript objects)`);
      }
    }
  });
});
