import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { specDriveContent, planVm } from '../../src/runtime/firecracker/vm-config.js';
import { buildPod } from '../../src/runtime/kubernetes/pod-manifest.js';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { listen, spec } from '../runtime/conformance.js';

/**
 * Specs without env, resources or labels now share one frozen empty object for each. A runtime
 * that writes into the spec's map (or into something aliased to it) would either throw in strict
 * mode, failing the workload, or, had the object not been frozen, hand one workload's control
 * variables to every later one. These run specs without maps through every place that builds a
 * workload's environment, labels or resources, with secrets in the control plane's part, and look
 * at the next workload.
 */
describe('adversary: specs sharing the empty env, labels and resources', () => {
  it("a local process given a heartbeat token leaves nothing in the next workload's environment", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-adv13-'));
    const runtime = new ProcessRuntime({ stateDir, graceMs: 500 });
    const events = listen(runtime);
    const print = 'echo "token=${LEASEHOLD_TOKEN:-none} id=$LEASEHOLD_WORKLOAD_ID"';
    try {
      await runtime.provision('first', spec('first', print), { env: { LEASEHOLD_TOKEN: 'first-secret' } });
      await events.exitOf('first');
      await runtime.provision('second', spec('second', print));
      await events.exitOf('second');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal((await runtime.logs('first'))?.trim(), 'token=first-secret id=first');
      assert.equal((await runtime.logs('second'))?.trim(), 'token=none id=second', "the first workload's token reached the second");
      assert.deepEqual(Object.keys(spec('third', 'true').env), [], 'a fresh spec still has an empty env');
    } finally {
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('a Pod built with a token and an owner leaves the next Pod as bare as its spec', () => {
    const options = { namespace: 'ns', deadlineSlackSeconds: 60, sandbox: null, owner: { replica: 'r1', shard: 1, epoch: 1 } };
    const first = buildPod('first', spec('first', ['true']), { ...options, env: { LEASEHOLD_TOKEN: 'first-secret' } });
    const second = buildPod('second', spec('second', ['true']), options);
    assert.ok(first.spec!.containers[0]!.env!.some((v) => v.value === 'first-secret'));
    assert.deepEqual(
      second.spec!.containers[0]!.env!.map((v) => v.name),
      ['LEASEHOLD_WORKLOAD_ID'],
      'only its own id: nothing of the first Pod',
    );
    assert.equal(second.spec!.containers[0]!.resources, undefined, 'no limits asked, none set');
    assert.deepEqual(
      Object.keys(first.metadata!.labels!).sort(),
      Object.keys(second.metadata!.labels!).sort(),
      'labels of the control plane only, the same for both',
    );
  });

  it('a Firecracker VM of a spec without env or resources is planned with defaults and its own variables only', () => {
    const bare = spec('vm', ['true']);
    const plan = planVm(bare, { kernel: 'k', rootfs: 'r', specDrive: 's', vsockSocket: 'v' }, null);
    assert.ok(plan.machine.vcpu_count >= 1);
    assert.equal(plan.machine.mem_size_mib > 0, true);
    const drive = specDriveContent(['true'], { ...bare.env, LEASEHOLD_WORKLOAD_ID: 'vm' }).toString('utf8');
    assert.deepEqual(
      drive.split('\n').filter((line) => line.startsWith('env ')),
      [`env LEASEHOLD_WORKLOAD_ID ${Buffer.from('vm').toString('base64')}`],
    );
    assert.deepEqual(Object.keys(bare.env), [], 'building the drive wrote nothing into the spec');
  });
});
