import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_MEMORY_MIB, planVm } from '../../src/runtime/firecracker/vm-config.js';
import { spec } from '../runtime/conformance.js';

const files = { kernel: '/k', rootfs: '/r', specDrive: '/s' };

describe('a microVM sized from a spec', () => {
  it("holds a spec's memory and CPU to the host's maximums however much it asks for", () => {
    const greedy = planVm(spec('greedy', ['true'], { resources: { memory: '1000Gi', cpu: '500' } }), files, null);
    assert.equal(greedy.machine.mem_size_mib, MAX_MEMORY_MIB);
    assert.equal(greedy.machine.vcpu_count, 32);
    const modest = planVm(spec('modest', ['true'], { resources: { memory: '512Mi', cpu: '2' } }), files, null);
    assert.deepEqual(modest.machine, { vcpu_count: 2, mem_size_mib: 512, smt: false });
  });
});
