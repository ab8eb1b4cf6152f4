import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { workloadJsonSchema } from '../../src/index.js';
import { parseSubmission } from '../../src/spec/index.js';

const shipped = JSON.parse(readFileSync(new URL('../../../schema/workload.schema.json', import.meta.url), 'utf8')) as object;
const validate = new Ajv2020({ strict: false }).compile(shipped);
const base = { id: 'test-1', type: 'trusted', image: 'alpine', cmd: ['echo', 'hello'] };

/** Payloads from the README, and ones intake refuses for each rule the schema can carry. */
const ACCEPTED: [string, unknown][] = [
  ['the seed payload', base],
  ['cmd as a shell line', { ...base, cmd: 'echo hello' }],
  ['every field', { ...base, env: { A: '1' }, resources: { cpu: '500m', memory: '256Mi' }, leaseSeconds: 60, maxLifetimeSeconds: 600, labels: { team: 'a' }, heartbeat: 'self' }],
  ['a quantity as a number', { ...base, resources: { cpu: 2 } }],
  ['a session: no cmd', { id: 'test-1', type: 'trusted', image: 'alpine' }],
  ['a session said so', { id: 'test-1', type: 'untrusted', image: 'alpine', mode: 'session', heartbeat: 'runtime' }],
  ['a run said so', { ...base, mode: 'run' }],
];
const REFUSED: [string, unknown][] = [
  ['no id', { type: 'trusted', image: 'alpine', cmd: ['true'] }],
  ['an id that is no DNS label', { ...base, id: 'Test_1' }],
  ['an unknown field', { ...base, privileged: true }],
  ['an empty cmd', { ...base, cmd: [] }],
  ['a cmd starting with an empty program', { ...base, cmd: ['', 'x'] }],
  ['a NUL in cmd', { ...base, cmd: ['echo', 'a\u0000b'] }],
  ['a NUL in a shell line', { ...base, cmd: 'echo \u0000' }],
  ['a number in cmd', { ...base, cmd: ['sleep', 1] }],
  ['too many arguments', { ...base, cmd: Array.from({ length: 4_097 }, () => 'x') }],
  ['a reserved env name', { ...base, env: { LEASEHOLD_HEARTBEAT_SOCKET: '/' } }],
  ['an env name JavaScript objects give a meaning to', { ...base, env: { constructor: 'x' } }],
  ['a NUL in an env value', { ...base, env: { A: 'a\u0000' } }],
  ['a reserved label', { ...base, labels: { 'app.kubernetes.io/name': 'leasehold' } }],
  ['a label of ours', { ...base, labels: { 'leasehold.dev/shard': '1' } }],
  ['too many labels', { ...base, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'x'])) }],
  ['a quantity that is none', { ...base, resources: { cpu: 'lots' } }],
  ['a quantity past int64', { ...base, resources: { memory: '99999999999999999999999Gi' } }],
  ['a fractional lease', { ...base, leaseSeconds: 1.5 }],
  ['a lease past an hour', { ...base, leaseSeconds: 3601 }],
  ['an unknown type', { ...base, type: 'privileged' }],
  ['a session with a cmd', { ...base, mode: 'session' }],
  ['a run without a cmd', { id: 'test-1', type: 'trusted', image: 'alpine', mode: 'run' }],
  ['an unknown mode', { ...base, mode: 'daemon' }],
];
/**
 * Where intake refuses and JSON Schema cannot say so: a number whose decimal form is not a
 * quantity (`1e-7` becomes "1e-7"). The payload's byte limit is the other (intake's configuration).
 */
const BEYOND_JSON_SCHEMA: [string, unknown][] = [['a number quantity written in exponent form', { ...base, resources: { cpu: 1e-7 } }]];

describe('the JSON Schema of the workload payload (schema/workload.schema.json)', () => {
  it('is the file the package ships, equal to what the zod schema generates now', () => {
    assert.deepEqual(shipped, workloadJsonSchema(), 'stale: run node scripts/with-node.mjs scripts/write-json-schema.mjs');
  });

  for (const [name, payload] of ACCEPTED) {
    it(`accepts what intake accepts: ${name}`, () => {
      assert.equal(parseSubmission(JSON.stringify(payload)).ok, true, 'intake accepts it');
      assert.equal(validate(payload), true, JSON.stringify(validate.errors));
    });
  }

  for (const [name, payload] of REFUSED) {
    it(`refuses what intake refuses: ${name}`, () => {
      assert.equal(parseSubmission(JSON.stringify(payload)).ok, false, 'intake refuses it');
      assert.equal(validate(payload), false, 'the schema refuses it too');
    });
  }

  for (const [name, payload] of BEYOND_JSON_SCHEMA) {
    it(`says what it cannot check: ${name} (intake refuses it, the schema lets it through)`, () => {
      assert.equal(parseSubmission(JSON.stringify(payload)).ok, false);
      assert.equal(validate(payload), true);
    });
  }
});
