import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSubmission } from '../../src/spec/index.js';

const SEED = '{"id":"test-1","type":"trusted","image":"alpine","cmd":["echo","hello"]}';

function reason(raw: string, maxBytes?: number): string {
  const result = parseSubmission(raw, maxBytes);
  assert.equal(result.ok, false, `expected ${raw.slice(0, 80)} to be refused`);
  return result.ok ? '' : result.reason;
}

describe('workload spec', () => {
  it("accepts the seed's payload exactly as written, with defaults filled in", () => {
    const result = parseSubmission(SEED);
    assert.ok(result.ok);
    assert.deepEqual(result.spec.cmd, ['echo', 'hello']);
    assert.equal(result.spec.leaseSeconds, 30);
    assert.equal(result.spec.heartbeat, 'runtime');
    assert.deepEqual(result.spec.env, {});
  });

  it('accepts cmd as a shell string and every optional field', () => {
    const result = parseSubmission(
      JSON.stringify({
        id: 'job-7',
        type: 'untrusted',
        image: 'python:3.12',
        cmd: 'echo $GREETING',
        env: { GREETING: 'hi' },
        resources: { cpu: '500m', memory: '256Mi' },
        leaseSeconds: 10,
        maxLifetimeSeconds: 60,
        labels: { team: 'data' },
        heartbeat: 'self',
      }),
    );
    assert.ok(result.ok);
    assert.equal(result.spec.cmd, 'echo $GREETING');
    assert.deepEqual(result.spec.resources, { cpu: '500m', memory: '256Mi' });
  });

  it("refuses labels in the control plane's namespaces, so a workload Pod cannot join its Service or pass its network policies", () => {
    const spec = (labels: Record<string, string>) => JSON.stringify({ id: 'a', type: 'trusted', image: 'x', cmd: ['true'], labels });
    assert.equal(
      reason(spec({ 'app.kubernetes.io/name': 'leasehold' })),
      'labels.app.kubernetes.io/name: keys starting with leasehold.dev/ or app.kubernetes.io/ are reserved for the control plane',
    );
    assert.match(reason(spec({ 'leasehold.dev/workload-id': 'other' })), /reserved for the control plane/);
    assert.ok(parseSubmission(spec({ team: 'data', 'example.com/app.kubernetes.io': 'x' })).ok);
  });

  it("refuses env names in the control plane's LEASEHOLD_ namespace, whatever the workload's trust", () => {
    for (const type of ['untrusted', 'trusted']) {
      const spec = (env: Record<string, string>) => JSON.stringify({ id: 'a', type, image: 'x', cmd: ['true'], env });
      // The attack of issue 10: a sandbox that named its own heartbeat socket got the host's / bound in.
      assert.equal(
        reason(spec({ LEASEHOLD_HEARTBEAT_SOCKET: '/' })),
        'env.LEASEHOLD_HEARTBEAT_SOCKET: names starting with LEASEHOLD_ are reserved for the control plane',
      );
      assert.match(reason(spec({ OK: '1', LEASEHOLD_HEARTBEAT_TOKEN: 'forged' })), /^env\.LEASEHOLD_HEARTBEAT_TOKEN: names starting with LEASEHOLD_ are reserved/);
      assert.match(reason(spec({ LEASEHOLD_: '' })), /reserved for the control plane/);
      // Only the exact prefix is the control plane's; a name that merely contains it is the workload's.
      assert.ok(parseSubmission(spec({ MY_LEASEHOLD_X: '1', leasehold_x: '1' })).ok);
    }
  });

  it('says where JSON breaks', () => {
    assert.equal(reason('not json'), 'invalid JSON at position 1');
    assert.equal(reason('{"id":"a",}'), 'invalid JSON at position 10');
    assert.equal(reason('{"id":'), 'invalid JSON at position 6');
    assert.equal(reason(''), 'invalid JSON at position 0');
  });

  it('names every missing field', () => {
    assert.equal(reason('{"type":"trusted"}'), 'id: is required; image: is required');
    assert.equal(reason('{"type":"trusted","mode":"run"}'), 'id: is required; image: is required');
    assert.equal(reason('{"id":"a","type":"trusted","image":"x","mode":"run"}'), 'cmd: is required');
  });

  it('takes a payload without cmd as a session its holder heartbeats, and a cmd as a run the runtime renews', () => {
    const session = parseSubmission('{"id":"a","type":"untrusted","image":"x"}');
    assert.ok(session.ok);
    assert.equal(session.spec.mode, 'session');
    assert.equal(session.spec.heartbeat, 'self');
    assert.equal(session.spec.cmd, undefined);
    const run = parseSubmission(SEED);
    assert.ok(run.ok);
    assert.equal(run.spec.mode, 'run');
    assert.equal(run.spec.heartbeat, 'runtime');
    // Said explicitly, the heartbeat is what was said.
    const renewed = parseSubmission('{"id":"a","type":"trusted","image":"x","mode":"session","heartbeat":"runtime"}');
    assert.ok(renewed.ok);
    assert.equal(renewed.spec.heartbeat, 'runtime');
  });

  it('refuses a session with a cmd, saying a session runs nothing of its own', () => {
    assert.match(reason(SEED.replace('}', ',"mode":"session"}')), /^cmd: must be absent in a session: a session runs nothing of its own, commands are exec'd into it/);
    assert.equal(reason(SEED.replace('}', ',"mode":"daemon"}')), 'mode: must be run or session');
  });

  it('explains an id that cannot be a Kubernetes name', () => {
    assert.match(reason(SEED.replace('test-1', 'Test_1')), /^id: must be a DNS-1123 label/);
    assert.match(reason(SEED.replace('test-1', 'a'.repeat(60))), /^id: must be at most 59 characters/);
  });

  it('refuses an unknown type, unknown fields and bad values, each by name', () => {
    assert.equal(reason(SEED.replace('trusted', 'gpu')), 'type: must be one of trusted, untrusted');
    assert.equal(reason(SEED.replace('}', ',"cmnd":1}')), 'unknown field cmnd');
    assert.match(reason(SEED.replace('}', ',"resources":{"cpu":"lots"}}')), /^resources\.cpu: must be a Kubernetes quantity/);
    assert.match(reason(SEED.replace('["echo","hello"]', '[]')), /^cmd: must hold at least the program/);
    assert.match(reason(SEED.replace('}', ',"leaseSeconds":0}')), /^leaseSeconds:/);
    assert.equal(reason('[1,2]'), 'payload must be a JSON object');
  });

  it('refuses what would only fail later, at spawn or at Pod creation: an empty program, a quantity past int64', () => {
    assert.equal(reason(SEED.replace('["echo","hello"]', '[""]')), 'cmd: must start with the program to run, not an empty string');
    assert.equal(reason(SEED.replace('["echo","hello"]', '["","x"]')), 'cmd: must start with the program to run, not an empty string');
    assert.match(reason(SEED.replace('}', `,"resources":{"cpu":"${'9'.repeat(40)}"}}`)), /^resources\.cpu: must be a Kubernetes quantity of at most 20 characters/);
    assert.match(reason(SEED.replace('}', `,"resources":{"memory":${'9'.repeat(40)}}}`)), /^resources\.memory: must be a Kubernetes quantity/);
    // An empty argument after the program is a real argument (`printf ""`), and stays allowed.
    assert.equal(parseSubmission(SEED.replace('["echo","hello"]', '["printf",""]')).ok, true);
  });

  it('refuses an oversized payload before parsing it', () => {
    const big = SEED.replace('}', `,"labels":{"x":"${'a'.repeat(200)}"}}`);
    assert.equal(reason(big, 100), `payload of ${Buffer.byteLength(big)} bytes is over the limit of 100 bytes`);
  });
});
