import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LIFECYCLE_STATES, createWorkloadMachine } from '../../machines/index.js';
import { chartOf } from '../../src/inspector/chart.js';
import { runCli } from '../helpers/cli.js';

describe('the state chart, drawn from the machine definition', () => {
  const chart = chartOf(createWorkloadMachine());
  const edge = (from: string, to: string) => chart.edges.find((e) => e.from === from && e.to === to)?.events ?? [];

  it('has exactly the five lifecycle states, queued first and tornDown final', () => {
    assert.deepEqual(chart.states, [...LIFECYCLE_STATES]);
    assert.equal(chart.initial, 'queued');
    assert.deepEqual(chart.finals, ['tornDown']);
  });

  it('labels each arrow with the events that take it', () => {
    assert.deepEqual(edge('queued', 'provisioning'), ['workload.admit']);
    assert.ok(edge('provisioning', 'running').includes('runtime.provisioned'));
    for (const event of ['lease.expired', 'runtime.exited', 'workload.cancel', 'timer.lifetime']) {
      assert.ok(edge('running', 'expiring').includes(event), event);
    }
    assert.ok(edge('expiring', 'tornDown').includes('runtime.tornDown'));
    assert.equal(chart.edges.filter((e) => e.from === 'tornDown').length, 0, 'nothing leaves tornDown');
    assert.equal(chart.edges.filter((e) => e.to === 'queued').length, 0, 'nothing goes back to queued');
  });

  it('is what `leasehold chart` prints, as Mermaid and as dot', async () => {
    const mermaid = await runCli(['chart']);
    assert.equal(mermaid.code, 0);
    assert.match(mermaid.stdout, /^stateDiagram-v2\n {2}\[\*\] --> queued\n {2}queued --> provisioning: workload\.admit\n/);
    assert.match(mermaid.stdout, /\n {2}tornDown --> \[\*\]\n$/);
    const dot = await runCli(['chart', '--format', 'dot']);
    assert.match(dot.stdout, /^digraph workload \{/);
    assert.match(dot.stdout, /queued -> provisioning \[label="workload\.admit"\];/);
  });
});
