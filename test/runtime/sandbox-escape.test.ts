import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { pino } from 'pino';
import { bubblewrapLauncher, DEFAULT_SANDBOX_LIMITS, type SandboxLimits } from '../../src/runtime/process/bubblewrap.js';
import { cgroupScope } from '../../src/runtime/process/cgroups.js';
import { ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { HEARTBEAT_ENV, type ProvisionContext } from '../../src/runtime/runtime.js';
import { parseSubmission, type WorkloadSpec } from '../../src/spec/index.js';
import { listen, spec } from './conformance.js';

/**
 * Attacks from issue 10, tried against the bubblewrap sandbox as a hostile workload would. Each
 * test is named after what it protects; the attack is the workload's script.
 */

const opened: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of opened.reverse()) await close();
});

function sandbox(limits: Partial<SandboxLimits> = {}, extra: { cgroupRoot?: string; log?: pino.Logger } = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-escape-'));
  const runtime = new ProcessRuntime({
    stateDir,
    graceMs: 500,
    launcher: bubblewrapLauncher({ limits: { ...DEFAULT_SANDBOX_LIMITS, ...limits }, cgroupScope: cgroupScope(stateDir), ...extra }),
  });
  const events = listen(runtime);
  opened.push(async () => {
    events.stop();
    for (const id of await runtime.list()) await runtime.teardown(id);
    await runtime.close();
    rmSync(stateDir, { recursive: true, force: true });
  });
  return {
    runtime,
    /** Runs `script` as an untrusted workload to its end. */
    async run(id: string, script: string, options: { spec?: Partial<WorkloadSpec>; context?: ProvisionContext } = {}) {
      await runtime.provision(id, { ...spec(id, script), type: 'untrusted', ...options.spec }, options.context);
      const exit = await events.exitOf(id, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const output = (await runtime.logs(id)) ?? '';
      await runtime.teardown(id);
      return { exitCode: exit.exitCode, output };
    },
  };
}

/** Every process of this host's pid namespace (not inside a sandbox), with its command line and environment. */
function hostProcesses(): { pid: string; cmdline: string; environ: string }[] {
  const ours = readlinkSync('/proc/self/ns/pid');
  const found = [];
  for (const pid of readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name))) {
    try {
      const inHost = readlinkSync(`/proc/${pid}/ns/pid`) === ours;
      found.push({
        pid,
        cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '),
        environ: inHost && pid !== String(process.pid) ? readFileSync(`/proc/${pid}/environ`, 'utf8') : '',
      });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never: ${what}`);
}

describe('bubblewrap sandbox: attacks of issue 10', () => {
  it("keeps the host's root out of a sandbox whose env names its own heartbeat socket (LEASEHOLD_HEARTBEAT_SOCKET=/)", async () => {
    const payload = { id: 'esc-socket', type: 'untrusted', image: 'x', cmd: ['true'], env: { LEASEHOLD_HEARTBEAT_SOCKET: '/' } };
    const parsed = parseSubmission(JSON.stringify(payload));
    assert.equal(parsed.ok, false, 'the spec is refused at intake');
    assert.match(parsed.ok ? '' : parsed.reason, /env\.LEASEHOLD_HEARTBEAT_SOCKET: names starting with LEASEHOLD_ are reserved for the control plane/);

    // A caller that skips the schema (a library user, a bug) still does not choose a mount.
    const { run } = sandbox();
    const { output } = await run(
      'esc-socket',
      'cat /run/leasehold/heartbeat.sock/etc/passwd /etc/passwd 2>&1; ls /run/leasehold/heartbeat.sock/proc 2>&1 | head -3; echo "socket=$LEASEHOLD_HEARTBEAT_SOCKET"',
      { spec: { env: { LEASEHOLD_HEARTBEAT_SOCKET: '/', LEASEHOLD_HEARTBEAT_TOKEN: 'forged' } } },
    );
    assert.doesNotMatch(output, /root:x:0:0/, "the host's /etc/passwd");
    assert.match(output, /^socket=$/m, 'the forged variable does not reach the workload either');
    assert.doesNotMatch(output, /forged/);
  });

  it('lets no env value smuggle an option into bubblewrap (a NUL ends a value in the descriptor bwrap reads)', async () => {
    const smuggled = { SMUGGLE: 'x\0--bind\0/\0/host' };
    const parsed = parseSubmission(JSON.stringify({ id: 'esc-nul', type: 'untrusted', image: 'x', cmd: ['true'], env: smuggled }));
    assert.equal(parsed.ok ? '' : parsed.reason, 'env.SMUGGLE: values must not contain NUL characters');
    const { runtime } = sandbox();
    await assert.rejects(
      runtime.provision('esc-nul', { ...spec('esc-nul', 'cat /host/etc/passwd'), type: 'untrusted', env: smuggled }),
      (error: Error & { code?: string; transient?: boolean }) => error.code === 'INVALID_ENV' && error.transient === false,
    );
    assert.deepEqual(await runtime.list(), [], 'nothing was started');
  });

  it("shows a sandbox neither the host's /etc/passwd nor the host's processes", async () => {
    const { run } = sandbox();
    const { output } = await run(
      'esc-host',
      `cat /etc/passwd 2>&1; test -e /proc/${process.pid} && echo HOST-PID-VISIBLE; echo "processes=$(ls /proc | grep -c '^[0-9][0-9]*$')"`,
    );
    assert.doesNotMatch(output, /root:x:0:0/);
    assert.doesNotMatch(output, /HOST-PID-VISIBLE/);
    // The sandbox's init, the shell and the pipeline: nothing of the host's dozens of processes.
    assert.ok(Number(/processes=(\d+)/.exec(output)?.[1]) <= 6, output);
  });

  it("puts no secret and no heartbeat token on any process's command line, and no spec variable in any host-side process's environment", async () => {
    const secret = `hunter2-${randomBytes(6).toString('hex')}`;
    const token = `token-${randomBytes(6).toString('hex')}`;
    const marker = `sleep 31.${process.pid}`;
    const { runtime } = sandbox();
    // LD_DEBUG would make every host-side program that saw it (bwrap, a wrapper) say its name.
    await runtime.provision(
      'esc-cmdline',
      { ...spec('esc-cmdline', `echo started; ${marker}`), type: 'untrusted', env: { SECRET: secret, LD_DEBUG: 'libs' } },
      { env: { [HEARTBEAT_ENV.token]: token } },
    );
    await until('the workload runs', () => hostProcesses().some((p) => p.cmdline.startsWith(marker)));
    const processes = hostProcesses();
    const sandboxed = processes.filter((p) => p.cmdline.startsWith(marker));
    assert.ok(sandboxed.length > 0);
    for (const p of processes) {
      assert.ok(!p.cmdline.includes(secret), `the secret is on the command line of ${p.pid}: ${p.cmdline}`);
      assert.ok(!p.cmdline.includes(token), `the token is on the command line of ${p.pid}: ${p.cmdline}`);
      assert.ok(!p.environ.includes(secret), `the secret is in the environment of host-side process ${p.pid}: ${p.cmdline}`);
    }
    // The workload itself did get both.
    const inside = sandboxed.map((p) => readFileSync(`/proc/${p.pid}/environ`, 'utf8')).join('\n');
    assert.ok(inside.includes(secret) && inside.includes(token));
    await runtime.teardown('esc-cmdline');
    const output = (await runtime.logs('esc-cmdline')) ?? '';
    // The shell's for certain; the sleep's only if it was read before teardown.
    assert.match(output, /initialize program: (\/bin\/sh|sh|sleep)$/m, 'LD_DEBUG works where it belongs, inside');
    assert.doesNotMatch(output, /initialize program: (bwrap|setpriv)/, 'a spec variable acted on a host-side program');
  });

  it('refuses ptrace, new namespaces, mounts and turning off ASLR inside, while threads and forks still work', async () => {
    const { run } = sandbox();
    const { output } = await run(
      'esc-seccomp',
      [
        `python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); r = libc.ptrace(0, 0, 0, 0); print("ptrace", r, ctypes.get_errno())'`,
        'unshare -U true 2>&1; echo "unshare=$?"',
        'unshare -r -m true 2>&1; echo "unshare-mount=$?"',
        'setarch -R true 2>&1; echo "setarch=$?"',
        `python3 -c 'import threading; t = threading.Thread(target=print, args=("thread-ok",)); t.start(); t.join()'`,
        '(echo fork-ok) & wait',
      ].join('\n'),
    );
    assert.match(output, /^ptrace -1 1$/m, 'PTRACE_TRACEME fails with EPERM');
    assert.match(output, /^unshare=1$/m);
    assert.match(output, /^unshare-mount=1$/m);
    assert.match(output, /unshare failed: Operation not permitted/);
    assert.match(output, /^setarch=1$/m);
    assert.match(output, /^thread-ok$/m);
    assert.match(output, /^fork-ok$/m);
  });

  it('bounds the memory of all of a sandbox’s processes together', async () => {
    const { run } = sandbox();
    // Three processes of 28 MiB each under a 64 MiB limit: each alone is fine, together they are not.
    const { output } = await run(
      'esc-memory',
      `for i in 1 2 3; do python3 -c 'import time; b = b"x" * (28 << 20); time.sleep(3)' & pids="$pids $!"; done; for p in $pids; do wait $p; echo "exit=$?"; done`,
      { spec: { resources: { memory: '64Mi' } } },
    );
    const exits = [...output.matchAll(/exit=(\d+)/g)].map((m) => Number(m[1]));
    assert.equal(exits.length, 3, output);
    assert.ok(exits.includes(137), `no process was killed for memory: ${output}`);
  });

  it("bounds the size of a sandbox's /tmp", async () => {
    const { run } = sandbox({ maxTmpBytes: 32 * 2 ** 20 });
    const { output } = await run('esc-tmp', 'head -c 40M /dev/zero > /tmp/fill; echo "write=$?"; du -m /tmp/fill');
    assert.match(output, /No space left on device/);
    assert.match(output, /^write=1$/m);
    assert.match(output, /^3[0-2]\s/m, 'about 32 MiB made it, no more');
  });

  it("keeps one sandbox's heartbeat token from another, even one that asks for the host's root", async () => {
    const victimToken = `victim-token-${randomBytes(6).toString('hex')}`;
    const { runtime } = sandbox();
    const marker = `sleep 32.${process.pid}`;
    await runtime.provision('victim', { ...spec('victim', marker), type: 'untrusted' }, { env: { [HEARTBEAT_ENV.token]: victimToken } });
    await until('the victim runs', () => hostProcesses().some((p) => p.cmdline.startsWith(marker)));
    const { run } = sandbox();
    const { output } = await run(
      'thief',
      'cat /proc/*/cmdline /proc/*/environ /run/leasehold/heartbeat.sock/proc/*/cmdline /run/leasehold/heartbeat.sock/proc/*/environ 2>/dev/null | tr "\\0" "\\n" | grep -o "victim-token-[0-9a-f]*"; echo searched',
      { spec: { env: { LEASEHOLD_HEARTBEAT_SOCKET: '/' } } },
    );
    assert.match(output, /searched/);
    assert.ok(!output.includes(victimToken), `the thief found the victim's token: ${output}`);
    await runtime.teardown('victim');
  });

  it('without a usable cgroup, says so once in the log and still bounds each process', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const { run } = sandbox({ pids: 48 }, { cgroupRoot: '/nonexistent-cgroup-root', log });
    const first = await run('esc-fallback-1', 'echo ran');
    const second = await run('esc-fallback-2', 'n=0; while [ $n -lt 100 ]; do sleep 30 & n=$((n+1)); done 2>&1 | head -1');
    assert.match(first.output, /ran/);
    assert.match(second.output, /fork|Resource temporarily unavailable/i, 'the rlimit on processes still holds');
    const warnings = lines.filter((line) => line.includes('no usable cgroup'));
    assert.equal(warnings.length, 1, lines.join(''));
    assert.match(warnings[0]!, /per-process rlimits only/);
  });
});

/**
 * Starts a control plane (fixtures/run-untrusted) with fd 30 open for writing on a host file and
 * fd 40 on a host directory, as a control plane started by a careless supervisor would be, and
 * runs `script` in a sandbox from it.
 */
async function runWithInheritedDescriptors(script: string, cgroupRoot?: string) {
  const host = mkdtempSync(join(tmpdir(), 'leasehold-inherited-'));
  chmodSync(host, 0o755);
  const secret = `secret-${randomBytes(6).toString('hex')}`;
  writeFileSync(join(host, 'secret'), secret, { mode: 0o644 });
  const written = join(host, 'written');
  writeFileSync(written, '', { mode: 0o600 });
  const file = openSync(written, 'a');
  const dir = openSync(host, 'r');
  try {
    const stdio: ('ignore' | 'pipe' | 'inherit' | number)[] = ['ignore', 'pipe', 'inherit'];
    while (stdio.length < 41) stdio.push('ignore');
    stdio[30] = file;
    stdio[40] = dir;
    const fixture = fileURLToPath(new URL('./fixtures/run-untrusted.js', import.meta.url));
    const child = spawn(process.execPath, [fixture, script, ...(cgroupRoot ? [cgroupRoot] : [])], { stdio });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, stdout);
    const { output } = JSON.parse(stdout) as { output: string };
    return { output, secret, written: readFileSync(written, 'utf8') };
  } finally {
    closeSync(file);
    closeSync(dir);
    rmSync(host, { recursive: true, force: true });
  }
}

/** A stand-in for the control plane's heartbeat socket: counts connections and heartbeats per workload, answers 204. */
async function controlPlaneSocket() {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-hb-'));
  chmodSync(dir, 0o711);
  const path = join(dir, 'heartbeat.sock');
  const heartbeats = new Map<string, number>();
  let connections = 0;
  const server = createServer((req, res) => {
    const id = /^\/v1\/workloads\/([^/]+)\/heartbeat$/.exec(req.url ?? '')?.[1] ?? '?';
    heartbeats.set(id, (heartbeats.get(id) ?? 0) + 1);
    res.writeHead(204).end();
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  chmodSync(path, 0o666);
  opened.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  const context = (id: string): ProvisionContext => ({
    env: { [HEARTBEAT_ENV.socket]: path, [HEARTBEAT_ENV.token]: `token-${id}`, [HEARTBEAT_ENV.url]: `http://127.0.0.1:1/v1/workloads/${id}/heartbeat` },
  });
  return { heartbeats, connections: () => connections, context };
}

const HEARTBEAT = 'curl -s -o /dev/null -w "%{http_code}\\n" --unix-socket "$LEASEHOLD_HEARTBEAT_SOCKET" -X POST -H "authorization: Bearer $LEASEHOLD_HEARTBEAT_TOKEN"';
const openDescriptors = () => readdirSync('/proc/self/fd').length;

describe('bubblewrap sandbox: attacks of the second review', () => {
  it("rate-limits a sandbox's heartbeats and serves it its own id only", async () => {
    const upstream = await controlPlaneSocket();
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-escape-'));
    const runtime = new ProcessRuntime({
      stateDir,
      graceMs: 500,
      heartbeatRelay: { rate: { perSecond: 0.001, burst: 3 } },
      launcher: bubblewrapLauncher({ cgroupScope: cgroupScope(stateDir) }),
    });
    const events = listen(runtime);
    opened.push(async () => {
      events.stop();
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    });
    const script = [
      `for i in $(seq 30); do ${HEARTBEAT} "$LEASEHOLD_HEARTBEAT_URL"; done | sort | uniq -c`,
      `echo "other=$(${HEARTBEAT} http://localhost/v1/workloads/victim/heartbeat)"`,
      // Pipelined: twenty requests on one connection.
      `python3 -c 'import socket, os; s = socket.socket(socket.AF_UNIX); s.connect(os.environ["LEASEHOLD_HEARTBEAT_SOCKET"]); s.sendall(b"POST /v1/workloads/spammer/heartbeat HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n\\r\\n" * 20); import time; time.sleep(1); print("pipelined-answers", s.recv(1 << 16).count(b"HTTP/1.1"))'`,
    ].join('\n');
    await runtime.provision('spammer', { ...spec('spammer', script), type: 'untrusted' }, upstream.context('spammer'));
    await events.exitOf('spammer', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const output = (await runtime.logs('spammer')) ?? '';
    assert.match(output, /^\s*3 204$/m, output);
    assert.match(output, /^\s*27 429$/m, output);
    assert.match(output, /^other=401$/m, output);
    assert.match(output, /^pipelined-answers 1$/m, output);
    assert.equal(upstream.heartbeats.get('spammer'), 3, 'the control plane saw only what the bucket allowed');
    assert.equal(upstream.heartbeats.get('victim'), undefined);
  });

  it("holds a few of the control plane's descriptors however many connections a sandbox opens to its heartbeat socket, and another workload still heartbeats", async () => {
    const upstream = await controlPlaneSocket();
    const { runtime } = sandbox();
    const events = listen(runtime);
    opened.push(async () => events.stop());
    const before = openDescriptors();
    const flood = `python3 -c 'import socket, os, time
held = []
for i in range(300):
    s = socket.socket(socket.AF_UNIX); s.connect(os.environ["LEASEHOLD_HEARTBEAT_SOCKET"]); held.append(s)
print("held", len(held), flush=True); time.sleep(30)'`;
    await runtime.provision('flooder', { ...spec('flooder', flood), type: 'untrusted' }, upstream.context('flooder'));
    await until('the flood holds its connections', async () => /held 300/.test((await runtime.logs('flooder')) ?? ''));
    const during = openDescriptors();
    await runtime.provision('beater', { ...spec('beater', `${HEARTBEAT} "$LEASEHOLD_HEARTBEAT_URL"`), type: 'untrusted' }, upstream.context('beater'));
    await events.exitOf('beater', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match((await runtime.logs('beater')) ?? '', /^204$/m);
    assert.equal(upstream.heartbeats.get('beater'), 1);
    assert.ok(during - before < 30, `the flood holds ${during - before} of the control plane's descriptors`);
    await runtime.teardown('flooder');
  });

  const leak = 'cat /proc/self/fd/40/secret 2>&1; echo from-sandbox >&30; echo "fds=$(ls /proc/self/fd | tr "\\n" " ")"';
  for (const [path, cgroupRoot] of [['with cgroups', undefined], ['without cgroups (rlimit fallback)', '/nonexistent-cgroup-root']] as const) {
    it(`passes no descriptor the control plane inherited into a sandbox, ${path}`, async () => {
      const { output, secret, written } = await runWithInheritedDescriptors(leak, cgroupRoot);
      assert.ok(!output.includes(secret), `the sandbox read a host file through an inherited directory: ${output}`);
      assert.equal(written, '', 'the sandbox wrote to a host file through an inherited descriptor');
      // 0-2, and the directory ls itself reads.
      assert.match(output, /^fds=0 1 2 3 $/m, output);
    });
  }

  it('refuses sockets of any family but unix, inet, inet6 and netlink (vsock reaches the hypervisor)', async () => {
    const { run } = sandbox();
    const probe = [
      'import socket',
      'for name in ("AF_VSOCK", "AF_PACKET", "AF_ALG", "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"):',
      '    family = getattr(socket, name)',
      '    kind = socket.SOCK_RAW if name in ("AF_PACKET", "AF_NETLINK") else socket.SOCK_SEQPACKET if name == "AF_ALG" else socket.SOCK_STREAM',
      '    try:',
      '        socket.socket(family, kind).close(); print(name, "ok")',
      '    except OSError as e:',
      '        print(name, "errno", e.errno)',
      'try:',
      '    socket.socketpair(socket.AF_VSOCK, socket.SOCK_STREAM); print("socketpair-vsock ok")',
      'except OSError as e:',
      '    print("socketpair-vsock errno", e.errno)',
    ].join('\n');
    const { output } = await run('esc-vsock', `python3 -c '${probe}'`);
    for (const family of ['AF_VSOCK', 'AF_PACKET', 'AF_ALG']) assert.match(output, new RegExp(`^${family} errno 97$`, 'm'), output);
    assert.match(output, /^socketpair-vsock errno 97$/m, output);
    for (const family of ['AF_UNIX', 'AF_INET', 'AF_INET6', 'AF_NETLINK']) assert.match(output, new RegExp(`^${family} ok$`, 'm'), output);
  });

  for (const [path, cgroupRoot] of [['with cgroups', undefined], ['without cgroups (rlimit fallback)', '/nonexistent-cgroup-root']] as const) {
    it(`keeps /dev read-only and /dev/shm small, ${path}`, async () => {
      const { run } = sandbox({ maxTmpBytes: 32 * 2 ** 20 }, cgroupRoot ? { cgroupRoot } : {});
      const { output } = await run(
        'esc-dev',
        'echo x > /dev/newfile; echo "newfile=$?"; head -c 40M /dev/zero > /dev/shm/fill; echo "shm=$?"; du -m /dev/shm/fill; : > /dev/shm/small && echo small-ok',
      );
      assert.match(output, /cannot create \/dev\/newfile: Read-only file system/, output);
      assert.match(output, /^newfile=[1-9]/m, output);
      assert.match(output, /^shm=1$/m, output);
      assert.match(output, /^[0-8]\s/m, 'at most a quarter of /tmp made it into /dev/shm');
      assert.match(output, /^small-ok$/m, 'shared memory still works');
    });
  }
});
