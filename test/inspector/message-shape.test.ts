import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InspectorModel, MAX_TIMELINE } from '../../src/inspector/model.js';
import { MAX_ERROR_LENGTH, MAX_EVENT_LENGTH, MAX_LOGS_LENGTH, shapeLogs, shapeStatus, shapeTransition } from '../../src/inspector/message-shape.js';

const at = '2025-01-02T03:04:05.678Z';
const honest = { id: 'job-1', type: 'trusted', from: 'queued', to: 'provisioning', event: 'workload.admit', at, seq: 2 };

describe('what leasehold inspect believes from NATS', () => {
  it('takes an honest transition as it is', () => {
    const shaped = shapeTransition({ ...honest, reason: 'failed', exitCode: 3, error: 'boom' }, 'workloads.job-1.provisioning');
    assert.deepEqual(shaped, { ok: true, value: { ...honest, reason: 'failed', exitCode: 3, error: 'boom' } });
  });

  it('drops a message whose structure is not a transition', () => {
    const cases: [Record<string, unknown> | unknown, string][] = [
      [null, 'not a JSON object'],
      [[honest], 'not a JSON object'],
      [{ ...honest, id: '<img src=x onerror=alert(1)>' }, 'id'],
      [{ ...honest, id: 'a'.repeat(60) }, 'id'],
      [{ ...honest, type: 'trusted<script>' }, 'type'],
      [{ ...honest, to: 'pwned' }, 'to'],
      [{ ...honest, to: 'constructor' }, 'to'],
      [{ ...honest, from: 'javascript:alert(1)' }, 'from'],
      [{ ...honest, reason: '<b>' }, 'reason'],
      [{ ...honest, seq: '2' }, 'seq'],
      [{ ...honest, seq: 2 ** 60 }, 'seq'],
      [{ ...honest, seq: 0 }, 'seq'],
      [{ ...honest, at: 'yesterday' }, 'at'],
      [{ ...honest, at: '2025-13-45T99:99:99Z' }, 'at'],
      [{ ...honest, at: { toString: '2025' } }, 'at'],
    ];
    for (const [raw, field] of cases) {
      const shaped = shapeTransition(raw, 'workloads.job-1.provisioning');
      assert.equal(shaped.ok, false, JSON.stringify(raw));
      assert.match(shaped.ok ? '' : shaped.why, new RegExp(field), JSON.stringify(raw));
    }
  });

  it("drops a message that names another workload or state than its subject (a spoof of someone else's)", () => {
    assert.equal(shapeTransition(honest, 'workloads.job-2.provisioning').ok, false);
    assert.equal(shapeTransition(honest, 'workloads.job-1.tornDown').ok, false);
  });

  it('cuts free text to a bounded length and keeps exit codes only when they are numbers', () => {
    const shaped = shapeTransition({ ...honest, event: 'e'.repeat(1e6), error: 'x'.repeat(1e6), exitCode: '<b>1</b>' });
    assert.ok(shaped.ok);
    assert.equal(shaped.value.event.length, MAX_EVENT_LENGTH);
    assert.equal(shaped.value.error!.length, MAX_ERROR_LENGTH);
    assert.equal(shaped.value.exitCode, undefined);
    assert.equal((shapeTransition({ ...honest, exitCode: '137' }) as { value: { exitCode?: number } }).value.exitCode, 137);
    assert.equal((shapeTransition({ ...honest, exitCode: 1.5 }) as { value: { exitCode?: number } }).value.exitCode, undefined);
    assert.equal((shapeTransition({ ...honest, event: { toString: 'x' } }) as { value: { event: string } }).value.event, '');
  });

  it('believes a status reply only about the workload asked, and in shape', () => {
    const reply = { id: 'job-1', type: 'untrusted', state: 'running', seq: 3, timings: { queued: at, running: '<img>' }, waiting: 'w'.repeat(1e5) };
    const status = shapeStatus(reply, 'job-1')!;
    assert.equal(status.state, 'running');
    assert.deepEqual(status.timings, { queued: at });
    assert.equal(status.waiting!.length, MAX_ERROR_LENGTH);
    assert.equal(shapeStatus(reply, 'job-2'), null, 'a reply about another workload');
    assert.equal(shapeStatus({ ...reply, state: '<b>' }, 'job-1'), null);
    assert.equal(shapeStatus({ ...reply, type: 'root' }, 'job-1'), null);
  });

  it('keeps the tail of logs, and only a string', () => {
    assert.equal(shapeLogs({ logs: 'hello' }), 'hello');
    assert.equal(shapeLogs({ logs: 42 }), null);
    const long = `${'a'.repeat(MAX_LOGS_LENGTH)}the end`;
    assert.equal(shapeLogs({ logs: long })!.slice(-7), 'the end');
    assert.equal(shapeLogs({ logs: long })!.length, MAX_LOGS_LENGTH);
  });

  it('keeps memory bounded however many transitions a flood forges', () => {
    const model = new InspectorModel(10, 100);
    // One workload "finishing" 500 times must not count as 500 finished ones and open the bound.
    for (let seq = 1; seq <= 500; seq++) model.apply({ id: 'chatty', type: 'trusted', from: null, to: 'tornDown', event: 'x', at, seq });
    assert.equal(model.get('chatty')!.timeline.length, MAX_TIMELINE);
    assert.equal(model.get('chatty')!.timeline.at(-1)!.seq, 500, 'the latest transitions are the ones kept');
    for (let i = 0; i < 1_000; i++) model.apply({ id: `flood-${i}`, type: 'trusted', from: null, to: 'queued', event: 'x', at, seq: 1 });
    assert.equal(model.summary().queued.total, 100, 'unfinished workloads past the bound are not taken in');
    for (let i = 0; i < 1_000; i++) model.apply({ id: `flood-${i}`, type: 'trusted', from: 'queued', to: 'tornDown', event: 'x', at, seq: 2 });
    assert.equal(model.summary().tornDown.total, 10, 'finished workloads past keepFinished are forgotten');
    assert.equal(model.summary().queued.total, 0);
  });
});
