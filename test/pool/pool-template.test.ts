import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { checkPools, matches, parsePoolOption, poolName, readPoolFile } from '../../src/pool/pool-template.js';
import { withWarmPools } from '../../src/pool/with-warm-pools.js';
import { PooledRuntime } from '../../src/pool/pooled-runtime.js';
import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import { workloadSpecSchema } from '../../src/spec/index.js';
import { silentLogger } from '../../src/log.js';

const spec = (fields: Record<string, unknown>) => workloadSpecSchema.parse({ id: 'w', type: 'untrusted', image: 'python:3.12', ...fields });

describe('warm pool templates', () => {
  it("reads --pool as the issue writes it: an image's own colons stay in the image", () => {
    assert.deepEqual(parsePoolOption('untrusted:python:3.12:size=20'), {
      type: 'untrusted',
      image: 'python:3.12',
      resources: {},
      size: 20,
      min: 0,
      max: 40,
      idleSeconds: 600,
    });
    const full = parsePoolOption('trusted:registry.local:5000/tools:1.2:size=4:min=1:max=9:idle=30:cpu=500m:memory=256Mi');
    assert.equal(full.image, 'registry.local:5000/tools:1.2');
    assert.deepEqual({ ...full, image: undefined }, { type: 'trusted', image: undefined, resources: { cpu: '500m', memory: '256Mi' }, size: 4, min: 1, max: 9, idleSeconds: 30 });
    assert.equal(poolName(full), 'trusted:registry.local:5000/tools:1.2 (cpu=500m,memory=256Mi)');
  });

  it('refuses, naming what is wrong: an unknown option, a size of 0, min above size, an unknown type, no image', () => {
    const refusal = (text: string, pattern: RegExp) => assert.throws(() => parsePoolOption(text), (error: unknown) => error instanceof ConfigError && pattern.test(error.message), text);
    refusal('untrusted:python:3.12:sise=20', /unknown option sise/);
    refusal('untrusted:python:3.12:size=0', /size must be at least 1/);
    refusal('untrusted:python:3.12:size=2:min=3', /min <= size <= max/);
    refusal('untrusted:python:3.12:size=x', /size must be a whole number/);
    refusal('sandboxed:python:size=2', /type must be one of trusted, untrusted/);
    refusal('untrusted:size=2', /image must not be empty/);
    refusal('untrusted:alpine', /size is required/);
    refusal('untrusted:python:size=2:memory=lots', /Kubernetes quantity/);
    assert.throws(() => checkPools([parsePoolOption('untrusted:a:size=1'), parsePoolOption('untrusted:a:size=3')]), /two pools are declared for untrusted:a/);
  });

  it('reads a pool file in YAML (a list, or pools: [...]) and says which entry is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-pools-'));
    try {
      const file = join(dir, 'pools.yaml');
      writeFileSync(file, 'pools:\n  - type: untrusted\n    image: python:3.12\n    size: 20\n    idleSeconds: 120\n    resources: {memory: 512Mi}\n  - {type: trusted, image: alpine, size: 2}\n');
      const [python, alpine] = readPoolFile(file);
      assert.deepEqual(python, { type: 'untrusted', image: 'python:3.12', resources: { memory: '512Mi' }, size: 20, min: 0, max: 40, idleSeconds: 120 });
      assert.equal(alpine?.image, 'alpine');
      writeFileSync(file, '- {type: trusted, image: alpine, size: 2}\n- {type: trusted, image: alpine, size: 2, colour: red}\n');
      assert.throws(() => readPoolFile(file), /pools\.yaml, pool 2: .*colour/);
      writeFileSync(file, 'size: 3\n');
      assert.throws(() => readPoolFile(file), /must hold a list of pools/);
      assert.throws(() => readPoolFile(join(dir, 'missing.yaml')), /cannot read the pool file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('matches a spec only on the same type, image and resources, and never a run that heartbeats itself', () => {
    const template = parsePoolOption('untrusted:python:3.12:size=2:memory=512Mi');
    assert.equal(matches(template, spec({ resources: { memory: '512Mi' } })), true, 'a session');
    assert.equal(matches(template, spec({ resources: { memory: '512Mi' }, cmd: ['python', '-c', '1'] })), true, 'a run the runtime renews');
    assert.equal(matches(template, spec({ resources: { memory: '512Mi' }, cmd: ['python'], heartbeat: 'self' })), false, 'needs its heartbeat socket bound at launch');
    assert.equal(matches(template, spec({})), false, 'other resources');
    assert.equal(matches(template, spec({ image: 'python:3.13', resources: { memory: '512Mi' } })), false, 'another image');
    assert.equal(matches(template, spec({ type: 'trusted', resources: { memory: '512Mi' } })), false, 'another type');
  });
});

describe('warm pools in front of runtimes', () => {
  const options = { claims: { record: async () => undefined, lookup: async () => null, forget: async () => undefined, all: async () => new Map() }, replicaId: 'r', liveReplicas: async () => [], log: silentLogger };

  it('refuses an untrusted pool on a runtime that does not isolate, and one for a type no runtime takes', () => {
    const plain = new InstantRuntime();
    assert.throws(() => withWarmPools({ trusted: plain, untrusted: plain }, options, [parsePoolOption('untrusted:alpine:size=1')]), /does not isolate/);
    assert.throws(() => withWarmPools({ trusted: plain, untrusted: null }, options, [parsePoolOption('untrusted:alpine:size=1')]), /no runtime takes them/);
  });

  it('puts one pooled runtime in front of a runtime that takes both types, so its events reach the supervisor once', () => {
    const shared = new InstantRuntime();
    const routes = withWarmPools({ trusted: shared, untrusted: null }, options, [parsePoolOption('trusted:alpine:size=1'), parsePoolOption('trusted:busybox:size=1')]);
    assert.ok(routes.trusted instanceof PooledRuntime);
    assert.equal(routes.trusted.pools.length, 2);
    assert.deepEqual(withWarmPools({ trusted: shared, untrusted: shared }, options, []), { trusted: shared, untrusted: shared }, 'no pools: the runtimes as they are');
  });

  it('refuses workload ids that start like a member id: a workload must never take a member’s place', () => {
    const result = workloadSpecSchema.safeParse({ id: 'wp-0123abcd-0123abcd-001122334455', type: 'trusted', image: 'alpine', cmd: ['true'] });
    assert.equal(result.success, false);
    assert.match(result.error!.issues[0]!.message, /must not start with wp-/);
  });
});
