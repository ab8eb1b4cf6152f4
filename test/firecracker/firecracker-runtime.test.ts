import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FirecrackerApi } from '../../src/runtime/firecracker/firecracker-api.js';
import { firecrackerLauncher } from '../../src/runtime/firecracker/firecracker-launcher.js';
import { EXIT_MARKER, specDriveContent } from '../../src/runtime/firecracker/vm-config.js';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { eventually } from '../helpers/eventually.js';
import { listen, runtimeConformance, spec } from '../runtime/conformance.js';
import { fakeFirecrackerHost } from './firecracker-harness.js';

function firecrackerRuntime(options: { jailer?: boolean } = {}) {
  const host = fakeFirecrackerHost();
  const stateDir = join(host.dir, 'state');
  const runtime = new ProcessRuntime({ stateDir, graceMs: 1_000, launcher: firecrackerLauncher(host.config(options)) });
  return { host, stateDir, runtime };
}

runtimeConformance('firecracker (spec-checked API double)', async () => {
  const { host, runtime } = firecrackerRuntime();
  await runtime.start();
  return { runtime, cleanup: async () => host.cleanup() };
});

describe('the firecracker runtime', () => {
  it('configures and starts the VM with only the calls and fields the API defines, and reads the exit code from the console', async () => {
    const { host, runtime } = firecrackerRuntime();
    const events = listen(runtime);
    try {
      await runtime.provision('agent-1', { ...spec('agent-1', ['echo', 'hello'], { resources: { cpu: '2', memory: '512Mi' } }), type: 'untrusted' });
      assert.equal((await events.exitOf('agent-1')).exitCode, 0);
      assert.match((await runtime.logs('agent-1')) ?? '', /^hello$/m);
      const calls = host.requests().map((r) => `${r.method} ${r.path} ${r.status}`);
      assert.deepEqual(calls, [
        'PUT /machine-config 204',
        'PUT /boot-source 204',
        'PUT /drives/rootfs 204',
        'PUT /drives/spec 204',
        'PUT /vsock 204',
        'PUT /actions 204',
      ], 'no network interface unless asked for');
      const [machine, boot, rootfs] = host.requests();
      assert.deepEqual(machine!.body, { vcpu_count: 2, mem_size_mib: 512, smt: false });
      assert.match(String(boot!.body!.boot_args), /reboot=k panic=1/);
      assert.deepEqual(rootfs!.body, { drive_id: 'rootfs', path_on_host: join(host.dir, 'rootfs', 'alpine.ext4'), is_root_device: true, is_read_only: true });
      const failing = await runtime.provision('agent-2', spec('agent-2', 'exit 3'));
      assert.deepEqual(failing, { state: 'running' });
      assert.equal((await events.exitOf('agent-2')).exitCode, 3);
      await runtime.teardown('agent-1');
      await runtime.teardown('agent-2');
    } finally {
      events.stop();
      host.cleanup();
    }
  });

  it('stops a running VM with Ctrl-Alt-Del and removes its socket and files', async () => {
    const { host, runtime, stateDir } = firecrackerRuntime();
    try {
      await runtime.provision('long', spec('long', ['sleep', '300']));
      const workdir = join(stateDir, 'firecracker', 'work', 'long');
      assert.ok(existsSync(join(workdir, 'fc.sock')));
      await runtime.teardown('long');
      assert.equal(host.requests().at(-1)!.body!.action_type, 'SendCtrlAltDel');
      assert.equal(existsSync(workdir), false, 'socket and spec drive are gone');
      assert.deepEqual(await runtime.status('long'), { state: 'notFound' });
    } finally {
      host.cleanup();
    }
  });

  it('through the jailer: files go into the chroot, paths are chroot-relative, and the chroot is removed at teardown', async () => {
    const { host, runtime } = firecrackerRuntime({ jailer: true });
    const events = listen(runtime);
    try {
      await runtime.provision('jailed', spec('jailed', ['sleep', '300']));
      const root = join(host.dir, 'jail', 'firecracker', 'jailed', 'root');
      assert.deepEqual(readdirSync(root).sort(), ['rootfs.ext4', 'run', 'spec.img', 'vmlinux', 'vsock.sock']);
      const bodies = host.requests().map((r) => r.body);
      assert.equal(bodies[1]!.kernel_image_path, '/vmlinux');
      assert.equal(bodies[2]!.path_on_host, '/rootfs.ext4');
      await runtime.teardown('jailed');
      assert.equal(existsSync(join(host.dir, 'jail', 'firecracker', 'jailed')), false, 'the jailer leaves cleanup to us, and we did it');
      assert.ok(!events.events.some((e) => e.event.type === 'runtime.failed'));
    } finally {
      events.stop();
      host.cleanup();
    }
  });

  it('refuses an image it has no root filesystem for, and is unavailable with a reason on a host without KVM', async () => {
    const { host, runtime } = firecrackerRuntime();
    try {
      await assert.rejects(runtime.provision('ruby', { ...spec('ruby', ['true']), image: 'ruby:3' }), /no root filesystem for image "ruby:3": put it at .*\/rootfs\/ruby_3\.ext4/);
      const real = firecrackerLauncher({ ...host.config(), binary: '/nonexistent/firecracker', kvmDevice: '/nonexistent/kvm' });
      assert.match(real.unavailableReason() ?? '', /needs the firecracker binary \(\/nonexistent\/firecracker\), read-write access to \/nonexistent\/kvm/);
    } finally {
      host.cleanup();
    }
  });
});

describe('the Firecracker API double refuses what the real API refuses', () => {
  async function double() {
    const host = fakeFirecrackerHost();
    const dir = mkdtempSync(join(tmpdir(), 'fcd-'));
    const socket = join(dir, 'api.sock');
    const child = spawn(host.config().binary, ['--api-sock', socket, '--id', 'probe'], { stdio: 'ignore' });
    const api = new FirecrackerApi(socket);
    // The socket file appears at bind(), a moment before listen(): until then a connect is refused.
    await eventually(async () => {
      assert.ok(existsSync(socket));
      await api.describe();
    }, 5_000);
    return {
      api,
      host,
      async close() {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        host.cleanup();
      },
    };
  }

  it('unknown fields, wrong types and unknown actions', async () => {
    const { api, close } = await double();
    try {
      await assert.rejects(api.put('/machine-config', { vcpu_count: 1, mem_size_mib: 128, bogus: true }), /must NOT have additional properties "bogus"/);
      await assert.rejects(api.put('/machine-config', { vcpu_count: 'two', mem_size_mib: 128 }), /\/vcpu_count must be integer/);
      await assert.rejects(api.put('/machine-config', { vcpu_count: 64, mem_size_mib: 128 }), /\/vcpu_count must be <= 32/);
      await assert.rejects(api.put('/actions', { action_type: 'Reboot' }), /must be equal to one of the allowed values/);
      await assert.rejects(api.put('/drives/a', { drive_id: 'b', is_root_device: false }), /The id from the path does not match the id from the body!/);
      await assert.rejects(api.put('/no-such-thing', {}), /Invalid request method and\/or path/);
    } finally {
      await close();
    }
  });

  it('InstanceStart with no boot source, and pre-boot calls after the start', async () => {
    const { api, host, close } = await double();
    try {
      await assert.rejects(api.put('/actions', { action_type: 'InstanceStart' }), /Cannot start microvm without kernel configuration/);
      await api.put('/boot-source', { kernel_image_path: join(host.dir, 'vmlinux') });
      await api.put('/actions', { action_type: 'InstanceStart' });
      assert.equal((await api.describe()).state, 'Running');
      await assert.rejects(api.put('/machine-config', { vcpu_count: 1, mem_size_mib: 128 }), /not supported after starting the microVM/);
      await assert.rejects(api.put('/boot-source', { kernel_image_path: '/x' }), /not supported after starting the microVM/);
      await assert.rejects(api.put('/actions', { action_type: 'InstanceStart' }), /not supported after starting the microVM/);
    } finally {
      await close();
    }
  });
});

describe("the guest's init (guest/leasehold-init), run on the host against a spec drive", () => {
  const isRoot = process.getuid?.() === 0;
  it('runs the argv with only the spec environment, as an unprivileged user, and prints the exit line', { skip: !isRoot && 'setpriv needs root' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'init-'));
    try {
      const drive = join(dir, 'spec.img');
      writeFileSync(drive, specDriveContent(['sh', '-c', 'echo "$GREETING|$REDIS_URL|$0"; id -u; exit 4', 'arg0'], { GREETING: "it's me" }));
      const init = new URL('../../../src/runtime/firecracker/guest/leasehold-init', import.meta.url).pathname;
      const { stdout } = await promisify(execFile)('sh', [init], { env: { ...process.env, REDIS_URL: 'redis://secret', LEASEHOLD_SPEC_DEVICE: drive } });
      assert.equal(stdout, "it's me||arg0\n65534\nLEASEHOLD_EXIT=4\n");
      assert.equal(EXIT_MARKER.exec(stdout)?.[1], '4');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
