import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_MEMORY_MIB, planVm } from '../../src/runtime/firecracker/vm-config.js';
import { spec } from '../runtime/conformance.js';
import { FirecrackerSpec } from './firecracker-spec.js';

const files = { kernel: '/k', rootfs: '/r', specDrive: '/s', vsockSocket: '/v' };

describe('a microVM sized from a spec', () => {
  it("holds a spec's memory and CPU to the host's maximums however much it asks for", () => {
    const greedy = planVm(spec('greedy', ['true'], { resources: { memory: '1000Gi', cpu: '500' } }), files, null);
    assert.equal(greedy.machine.mem_size_mib, MAX_MEMORY_MIB);
    assert.equal(greedy.machine.vcpu_count, 32);
    const modest = planVm(spec('modest', ['true'], { resources: { memory: '512Mi', cpu: '2' } }), files, null);
    assert.deepEqual(modest.machine, { vcpu_count: 2, mem_size_mib: 512, smt: false });
  });

  it('gives every VM a vsock device the API accepts: a CID of 3 or more, on the socket it is given', () => {
    const plan = planVm(spec('any', ['true']), files, null);
    assert.deepEqual(plan.vsock, { guest_cid: 3, uds_path: '/v' });
    const validate = new FirecrackerSpec().route('PUT', '/vsock')!.validate!;
    assert.equal(validate(plan.vsock), true, JSON.stringify(validate.errors));
    assert.equal(validate({ ...plan.vsock, guest_cid: 2 }), false, 'the double refuses the host CID, as the API does');
  });
});
