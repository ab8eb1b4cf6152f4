import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { RuntimeError } from '../../src/errors.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../../src/runtime/exec.js';
import { firecrackerLauncher } from '../../src/runtime/firecracker/firecracker-launcher.js';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { eventually } from '../helpers/eventually.js';
import { spec } from '../runtime/conformance.js';
import { fakeFirecrackerHost } from './firecracker-harness.js';

const never = new AbortController().signal;
/** The double runs the agent on this host: as root, the agent drops to the workload's user as it would in a guest. */
const isRoot = process.getuid?.() === 0;

function collect() {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const firstStdout = Promise.withResolvers<void>();
  const output: ExecOutput = {
    stdout: (chunk) => (stdout.push(Buffer.from(chunk)), firstStdout.resolve()),
    stderr: (chunk) => stderr.push(Buffer.from(chunk)),
  };
  return { output, firstStdout: firstStdout.promise, out: () => Buffer.concat(stdout), err: () => Buffer.concat(stderr).toString() };
}

async function* chunks(...parts: (string | Buffer)[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part;
}

/** True while a process with this pid exists on this host (the double's "guest" is this host). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function vmRuntime(options: { jailer?: boolean; agentBootMs?: number } = {}) {
  const host = fakeFirecrackerHost();
  const stateDir = join(host.dir, 'state');
  const runtime = new ProcessRuntime({ stateDir, graceMs: 1_000, launcher: firecrackerLauncher(host.config(options)) });
  return {
    host,
    stateDir,
    runtime,
    async run(id: string, request: ExecRequest, signal = never): Promise<ExecResult & { out: string; err: string }> {
      const seen = collect();
      const result = await runtime.exec(id, request, seen.output, signal);
      return { ...result, out: seen.out().toString(), err: seen.err() };
    },
    async close() {
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      host.cleanup();
    },
  };
}

describe('exec into a Firecracker microVM, through the guest agent on vsock (spec-checked double, the real agent script)', () => {
  let vm: ReturnType<typeof vmRuntime>;
  before(async () => {
    vm = vmRuntime();
    await vm.runtime.start();
    await vm.runtime.provision('s', { ...spec('s', ['sleep', '600'], { env: { GREETING: "it's the spec", SHARED: 'from-the-spec' } }), type: 'untrusted' });
  });
  after(() => vm.close());

  it('gives the VM a vsock device in its own directory, as the API defines it, before the start', () => {
    const calls = vm.host.requests().map((r) => `${r.method} ${r.path} ${r.status}`);
    assert.deepEqual(calls.slice(-2), ['PUT /vsock 204', 'PUT /actions 204']);
    const device = vm.host.requests().find((r) => r.path === '/vsock')!;
    assert.deepEqual(device.body, { guest_cid: 3, uds_path: join(vm.stateDir, 'firecracker', 'work', 's', 'vsock.sock') });
  });

  it('keeps stdout and stderr apart, streams output while the command runs, and returns its exit code', async () => {
    const seen = collect();
    const ending = new AbortController();
    const running = vm.runtime.exec('s', { cmd: ['sh', '-c', 'echo first; echo oops >&2; read never'], stdin: chunks() }, seen.output, ending.signal);
    // The first line arrives while the command still waits: streamed, not collected at the end.
    await Promise.race([seen.firstStdout, running]); // a refused exec fails here, not by a hang
    assert.equal(seen.out().toString(), 'first\n');
    ending.abort();
    assert.deepEqual(await running, { exitCode: null, reason: 'cancelled' });

    const done = await vm.run('s', { cmd: ['sh', '-c', 'echo out; echo err >&2; exit 7'] });
    assert.deepEqual([done.exitCode, done.out, done.err], [7, 'out\n', 'err\n']);
    assert.equal((await vm.run('s', { cmd: ['true'] })).exitCode, 0);
    assert.equal((await vm.run('s', { cmd: ['sh', '-c', 'kill -9 $$'] })).exitCode, 137, 'killed by signal 9: 128 + 9, as every runtime reports it');
    const missing = await vm.run('s', { cmd: ['no-such-command-here'] });
    assert.equal(missing.exitCode, 127);
    assert.match(missing.err, /no-such-command-here/);
  });

  it("runs with the workload's environment plus the request's, in /tmp or the cwd asked for, as the workload's unprivileged user", async () => {
    const script = 'printf "%s|" "$GREETING" "$SHARED" "$EXTRA" "$LEASEHOLD_WORKLOAD_ID" "$(pwd)" "$(id -u)"';
    const here = await vm.run('s', { cmd: ['sh', '-c', script], env: { SHARED: 'from-the-request', EXTRA: 'x y' } });
    const uid = isRoot ? '65534' : String(process.getuid?.());
    assert.equal(here.out, `it's the spec|from-the-request|x y|s|/tmp|${uid}|`);
    assert.equal(here.exitCode, 0);
    const there = await vm.run('s', { cmd: ['sh', '-c', 'pwd'], cwd: '/' });
    assert.equal(there.out, '/\n');
    const nowhere = await vm.run('s', { cmd: ['true'], cwd: '/no/such/dir' });
    assert.equal(nowhere.exitCode, 126);
    assert.match(nowhere.err, /can't cd|No such file|not found/i);
  });

  it('passes stdin through, larger than every pipe and window on the way, and its end reaches the command', async () => {
    const data = randomBytes(200 * 1024);
    const copied = collect();
    const result = await vm.runtime.exec('s', { cmd: ['cat'], stdin: chunks(data.subarray(0, 1000), data.subarray(1000)) }, copied.output, never);
    assert.equal(result.exitCode, 0, 'cat saw the end of its input');
    assert.ok(copied.out().equals(data), `${copied.out().length} bytes came back of ${data.length}`);
    const counted = await vm.run('s', { cmd: ['wc', '-c'], stdin: chunks('') });
    assert.equal(counted.out.trim(), '0');
  });

  it('hostile argv and env run literally: quotes, $(…), backticks, newlines, a leading dash, an = in argv[0]', async () => {
    const hostile = ["it's", '"quoted"', '$(touch /tmp/pwned-by-exec)', '`id`', 'two\nlines', 'trailing newline\n\n', '-n', '', 'a=b', '--', '\\x41'];
    const env = { TRICKY: "$(id) `id` 'q' \"d\"\nnext line\n", IFS: '-' };
    const result = await vm.run('s', { cmd: ['sh', '-c', 'for a; do printf "[%s]" "$a"; done; printf "{%s}" "$TRICKY"', 'argv0', ...hostile], env });
    assert.equal(result.out, `${hostile.map((a) => `[${a}]`).join('')}{${env.TRICKY}}`);
    assert.equal(result.exitCode, 0);
    // A program named with an '=' is a program, not an assignment.
    const named = await vm.run('s', { cmd: ['a=b'] });
    assert.equal(named.exitCode, 127);
  });

  it('ends at its timeout, and the command and what it started are killed in the guest', async () => {
    const seen = collect();
    const result = await vm.runtime.exec('s', { cmd: ['sh', '-c', 'sleep 600 & echo $$ $!; wait'], timeoutMs: 500 }, seen.output, never);
    assert.deepEqual(result, { exitCode: null, reason: 'timeout' });
    const pids = seen.out().toString().trim().split(' ').map(Number);
    assert.equal(pids.length, 2);
    await eventually(() => assert.deepEqual(pids.filter(alive), [], 'the shell and its background sleep are gone'), 5_000);
  });

  it('cancelled, it kills the command and what it started, and says so', async () => {
    const seen = collect();
    const ending = new AbortController();
    const running = vm.runtime.exec('s', { cmd: ['sh', '-c', 'sleep 600 & echo $$ $!; wait'] }, seen.output, ending.signal);
    await Promise.race([seen.firstStdout, running]);
    const pids = seen.out().toString().trim().split(' ').map(Number);
    assert.deepEqual(pids.filter(alive), pids, 'running before the cancel');
    ending.abort();
    assert.deepEqual(await running, { exitCode: null, reason: 'cancelled' });
    await eventually(() => assert.deepEqual(pids.filter(alive), []), 5_000);
  });

  it('a command that closes its stdin while stdin keeps coming can still be cancelled, and dies', async () => {
    const seen = collect();
    const ending = new AbortController();
    async function* endless(): AsyncIterable<Uint8Array> {
      while (!ending.signal.aborted) {
        yield randomBytes(4096);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    const running = vm.runtime.exec('s', { cmd: ['sh', '-c', 'exec 0<&-; echo $$; exec sleep 600'], stdin: endless() }, seen.output, ending.signal);
    await Promise.race([seen.firstStdout, running]);
    const pid = Number(seen.out().toString().trim());
    await new Promise((resolve) => setTimeout(resolve, 300)); // stdin keeps arriving at a closed pipe
    ending.abort();
    assert.deepEqual(await running, { exitCode: null, reason: 'cancelled' });
    await eventually(() => assert.equal(alive(pid), false, 'the command was killed in the guest'), 5_000);
  });

  it('runs several execs at once, each on a connection of its own, with its own output, stdin and exit code', async () => {
    // The first waits for stdin that is only given after the others have finished: they ran while it was open.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* held(): AsyncIterable<Uint8Array> {
      await gate;
      yield Buffer.from('released\n');
    }
    const first = vm.run('s', { cmd: ['sh', '-c', 'read line; echo "first got $line"; exit 3'], stdin: held() });
    const others = await Promise.all([1, 2, 3].map((n) => vm.run('s', { cmd: ['sh', '-c', `echo exec-${n}; exit ${n}`] })));
    assert.deepEqual(others.map((r) => [r.out, r.exitCode]), [['exec-1\n', 1], ['exec-2\n', 2], ['exec-3\n', 3]]);
    release();
    const done = await first;
    assert.deepEqual([done.out, done.exitCode], ['first got released\n', 3]);
  });
});

describe('exec into a Firecracker microVM: the cases around it', () => {
  it('a guest without the agent: a clear refusal, and nothing runs anywhere', async () => {
    const vm = vmRuntime({ agentBootMs: 200 });
    try {
      await vm.runtime.provision('bare', { ...spec('bare', ['sleep', '600']), type: 'untrusted', image: 'bare' });
      await assert.rejects(vm.runtime.exec('bare', { cmd: ['true'] }, collect().output, never), (error: unknown) => {
        assert.ok(error instanceof RuntimeError);
        assert.equal(error.code, 'EXEC_UNAVAILABLE');
        assert.match(error.message, /nothing in the guest answers on vsock port 10240/);
        assert.match(error.message, /leasehold-exec-agent/);
        return true;
      });
    } finally {
      await vm.close();
    }
  });

  it('through the jailer: the vsock socket is in the chroot, the API gets its chroot path, and exec works', async () => {
    const vm = vmRuntime({ jailer: true });
    try {
      await vm.runtime.provision('jailed', { ...spec('jailed', ['sleep', '600']), type: 'untrusted' });
      const device = vm.host.requests().find((r) => r.path === '/vsock')!;
      assert.deepEqual(device.body, { guest_cid: 3, uds_path: '/vsock.sock' });
      const result = await vm.run('jailed', { cmd: ['echo', 'inside'] });
      assert.deepEqual([result.out, result.exitCode], ['inside\n', 0]);
    } finally {
      await vm.close();
    }
  });

  it('teardown ends an exec in flight, and its command dies with the VM', async () => {
    const vm = vmRuntime();
    try {
      await vm.runtime.provision('short', { ...spec('short', ['sleep', '600']), type: 'untrusted' });
      const seen = collect();
      const running = vm.runtime.exec('short', { cmd: ['sh', '-c', 'echo $$; exec sleep 600'] }, seen.output, never);
      await Promise.race([seen.firstStdout, running]);
      const pid = Number(seen.out().toString().trim());
      await vm.runtime.teardown('short');
      const result = await running;
      assert.equal(result.exitCode, null);
      await eventually(() => assert.equal(alive(pid), false), 5_000);
    } finally {
      await vm.close();
    }
  });
});
