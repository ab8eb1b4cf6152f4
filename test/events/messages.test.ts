import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_EVENT_LENGTH, MAX_TEXT_LENGTH, parseLogsReply, parseStatusReply, parseTransition } from '../../src/events/messages.js';
import { InspectorModel, MAX_TIMELINE } from '../../src/inspector/model.js';

const at = '2025-01-02T03:04:05.678Z';
const honest = { id: 'job-1', type: 'trusted', from: 'queued', to: 'provisioning', event: 'workload.admit', at, seq: 2 };
const bytes = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const subject = 'workloads.job-1.provisioning';

describe('what the CLI and leasehold inspect believe from NATS', () => {
  it('takes an honest transition as it is', () => {
    const message = parseTransition(bytes({ ...honest, reason: 'failed', exitCode: 3, error: 'boom' }), subject);
    assert.deepEqual(message, { ...honest, reason: 'failed', exitCode: 3, error: 'boom' });
  });

  it('drops a message whose structure is not a transition', () => {
    const cases: unknown[] = [
      'not json',
      null,
      [honest],
      { ...honest, id: '<img src=x onerror=alert(1)>' },
      { ...honest, id: 'a'.repeat(60) },
      { ...honest, type: 'trusted<script>' },
      { ...honest, to: 'pwned' },
      { ...honest, to: 'constructor' },
      { ...honest, from: 'javascript:alert(1)' },
      { ...honest, reason: '<b>' },
      { ...honest, seq: '2' },
      { ...honest, seq: 2 ** 60 },
      { ...honest, seq: 0 },
      { ...honest, at: 'yesterday' },
      { ...honest, at: '2025-13-45T99:99:99Z' },
      { ...honest, at: { toString: '2025' } },
    ];
    for (const raw of cases) assert.equal(parseTransition(bytes(raw), subject), null, JSON.stringify(raw)?.slice(0, 80));
  });

  it("drops a message that names another workload or state than its subject (a spoof of someone else's)", () => {
    assert.equal(parseTransition(bytes(honest), 'workloads.job-2.provisioning'), null);
    assert.equal(parseTransition(bytes(honest), 'workloads.job-1.tornDown'), null);
  });

  it('cuts free text to a bounded length, as text, and keeps exit codes only when they are numbers', () => {
    const message = parseTransition(bytes({ ...honest, event: 'e'.repeat(1e6), error: 'x'.repeat(1e6), exitCode: '<b>1</b>' }), subject)!;
    assert.equal(message.event.length, MAX_EVENT_LENGTH);
    assert.equal(message.error!.length, MAX_TEXT_LENGTH);
    assert.ok(!('exitCode' in message), 'an exit code that is not a number is dropped, not the message');
    assert.equal(parseTransition(bytes({ ...honest, event: '<img src=x>' }), subject)!.event, '<img src=x>', 'escaping is the printer\'s job');
    assert.equal(parseTransition(bytes({ ...honest, exitCode: '137' }), subject)!.exitCode, 137);
    assert.equal(parseTransition(bytes({ ...honest, exitCode: 1.5 }), subject)!.exitCode, undefined);
    assert.equal(parseTransition(bytes({ ...honest, event: { toString: 'x' } }), subject)!.event, '');
  });

  it('believes a status reply only about the workload asked, and in shape', () => {
    const reply = { id: 'job-1', type: 'untrusted', state: 'running', seq: 3, timings: { queued: at }, waiting: 'w'.repeat(1e5) };
    const status = parseStatusReply(bytes(reply), 'job-1');
    assert.ok(status?.ok);
    assert.equal(status.value.state, 'running');
    assert.equal(status.value.waiting!.length, MAX_TEXT_LENGTH);
    assert.equal(parseStatusReply(bytes(reply), 'job-2'), null, 'a reply about another workload');
    assert.equal(parseStatusReply(bytes({ ...reply, state: '<b>' }), 'job-1'), null);
    assert.equal(parseStatusReply(bytes({ ...reply, type: 'root' }), 'job-1'), null);
    assert.equal(parseStatusReply(bytes({ ...reply, timings: { running: '<img>' } }), 'job-1'), null);
    assert.deepEqual(parseStatusReply(bytes({ error: 'no workload job-1' }), 'job-1'), { ok: false, error: 'no workload job-1' });
  });

  it('believes logs only as a string about the workload asked', () => {
    assert.deepEqual(parseLogsReply(bytes({ id: 'job-1', logs: 'hello' }), 'job-1'), { ok: true, value: { id: 'job-1', logs: 'hello' } });
    assert.equal(parseLogsReply(bytes({ id: 'job-1', logs: 42 }), 'job-1'), null);
    assert.equal(parseLogsReply(bytes({ id: 'job-2', logs: 'theirs' }), 'job-1'), null);
  });

  it('keeps the inspector model bounded however many transitions a flood forges', () => {
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

  it('keeps whole timelines for the most recently changed workloads only; the rest keep their last transition', () => {
    const model = new InspectorModel(10, 100, 2);
    const step = (id: string, seq: number, to: 'queued' | 'provisioning' | 'running') =>
      model.apply({ id, type: 'trusted', from: seq === 1 ? null : 'queued', to, event: 'x', at, seq });
    for (const id of ['old', 'middle', 'new']) {
      step(id, 1, 'queued');
      step(id, 2, 'provisioning');
    }
    assert.deepEqual(model.get('old')!.timeline.map((m) => m.to), ['provisioning'], 'the least recently changed keeps its last transition');
    assert.deepEqual(model.get('new')!.timeline.map((m) => m.to), ['queued', 'provisioning']);
    assert.deepEqual(model.get('middle')!.timeline.map((m) => m.to), ['queued', 'provisioning']);
    step('old', 3, 'running');
    assert.deepEqual(model.get('old')!.timeline.map((m) => m.to), ['provisioning', 'running'], 'changed again: kept whole from here on');
    assert.equal(model.get('old')!.state, 'running');
    step('old', 2, 'provisioning');
    assert.equal(model.get('old')!.state, 'running', 'a replayed transition is still recognised after trimming');
    assert.equal(model.summary().running.total + model.summary().provisioning.total, 3);
  });
});
