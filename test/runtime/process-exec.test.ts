import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError } from '../../src/errors.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../../src/runtime/exec.js';
import { bubblewrapLauncher, DEFAULT_SANDBOX_LIMITS } from '../../src/runtime/process/bubblewrap.js';
import { cgroupScope } from '../../src/runtime/process/cgroups.js';
import { directLauncher, ProcessRuntime } from '../../src/runtime/process/process-runtime.js';
import { eventually } from '../helpers/eventually.js';
import { processesWith } from '../helpers/processes.js';
import { listen, spec } from './conformance.js';

const never = new AbortController().signal;
const bwrapUnavailable = bubblewrapLauncher().unavailableReason();

interface Flavour {
  readonly name: string;
  readonly type: 'trusted' | 'untrusted';
  make(stateDir: string): ProcessRuntime;
}

const FLAVOURS: readonly Flavour[] = [
  { name: 'a trusted local process', type: 'trusted', make: (stateDir) => new ProcessRuntime({ stateDir, graceMs: 500 }) },
  {
    name: 'a bubblewrap sandbox',
    type: 'untrusted',
    make: (stateDir) =>
      new ProcessRuntime({ stateDir, graceMs: 500, launcher: bubblewrapLauncher({ limits: { ...DEFAULT_SANDBOX_LIMITS, pids: 64 }, cgroupScope: cgroupScope(stateDir) }) }),
  },
];

function collect() {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const output: ExecOutput = {
    stdout: (chunk) => stdout.push(Buffer.from(chunk)),
    stderr: (chunk) => stderr.push(Buffer.from(chunk)),
  };
  return { output, stdout, stderr, text: () => Buffer.concat(stdout).toString(), errors: () => Buffer.concat(stderr).toString() };
}

async function* chunks(...parts: (string | Buffer)[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? new TextEncoder().encode(part) : part;
}

/** A runtime of one flavour with its own state directory; `workload` starts one that runs until torn down. */
function harness(flavour: Flavour) {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-pexec-'));
  const runtime = flavour.make(stateDir);
  return {
    runtime,
    async workload(id: string, script = 'sleep 600', env: Record<string, string> = {}) {
      await runtime.provision(id, { ...spec(id, ['sh', '-c', script], { env }), type: flavour.type });
    },
    /** Runs an exec to its end, collecting its output. */
    async run(id: string, request: ExecRequest, signal = never): Promise<ExecResult & { out: string; err: string }> {
      const seen = collect();
      const result = await runtime.exec(id, request, seen.output, signal);
      return { ...result, out: seen.text(), err: seen.errors() };
    },
    async close() {
      for (const id of await runtime.list()) await runtime.teardown(id);
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

for (const flavour of FLAVOURS) {
  const skip = flavour.type === 'untrusted' && bwrapUnavailable ? `bubblewrap cannot create a sandbox here: ${bwrapUnavailable}` : false;

  describe(`exec into ${flavour.name}`, { skip }, () => {
    let h: ReturnType<typeof harness>;
    before(async () => {
      h = harness(flavour);
      await h.runtime.start();
      await h.workload('w', 'echo from-the-workload > made-by-workload; env -u PWD > env-of-workload; exec sleep 600', { GIVEN: 'by-the-spec' });
    });
    after(() => h.close());

    it('streams output as it is produced: the first chunk arrives while the command still runs', async () => {
      const seen = collect();
      let settled = false;
      const firstChunk = new Promise<void>((resolve) => {
        seen.output.stdout = (chunk) => {
          seen.stdout.push(Buffer.from(chunk));
          resolve();
        };
      });
      // It waits for a file that a second exec makes only once the first line has arrived.
      const running = h.runtime
        .exec('w', { cmd: ['sh', '-c', 'echo first; while [ ! -e gate-1 ]; do sleep 0.02; done; echo second'] }, seen.output, never)
        .finally(() => (settled = true));
      await firstChunk;
      assert.equal(seen.text(), 'first\n');
      assert.equal(settled, false, 'the exec had not ended when its first output arrived');
      assert.equal((await h.run('w', { cmd: ['touch', 'gate-1'] })).exitCode, 0);
      assert.deepEqual(await running, { exitCode: 0 });
      assert.equal(seen.text(), 'first\nsecond\n');
    });

    it("runs in the workload's working directory with the workload's environment", async () => {
      const seen = await h.run('w', { cmd: ['sh', '-c', 'cat made-by-workload; echo "given=$GIVEN id=$LEASEHOLD_WORKLOAD_ID"'] });
      assert.deepEqual(seen.exitCode, 0, seen.err);
      assert.equal(seen.out, 'from-the-workload\ngiven=by-the-spec id=w\n');
      // exactly its environment: nothing of the control plane's, nothing a shell on the way added
      const lines = (text: string) => text.split('\n').filter(Boolean).sort();
      const workload = await h.run('w', { cmd: ['cat', 'env-of-workload'] });
      const exec = await h.run('w', { cmd: ['env', '-u', 'PWD'] });
      assert.deepEqual(lines(exec.out), lines(workload.out));
      assert.ok(lines(exec.out).includes('GIVEN=by-the-spec'));
    });

    it('keeps stdout and stderr apart, and reports exit codes, zero, not zero, and killed by a signal', async () => {
      const both = await h.run('w', { cmd: ['sh', '-c', 'echo out; echo err >&2'] });
      assert.deepEqual([both.exitCode, both.out, both.err], [0, 'out\n', 'err\n']);
      assert.equal((await h.run('w', { cmd: ['sh', '-c', 'exit 7'] })).exitCode, 7);
      // As a shell and the kubelet report it: 128 + SIGKILL.
      assert.equal((await h.run('w', { cmd: ['sh', '-c', 'kill -9 $$'] })).exitCode, 137);
    });

    it('reports a command that cannot start, and a working directory that does not exist, with no exit code', async () => {
      const missing = await h.run('w', { cmd: ['no-such-command-here', 'x'] });
      assert.equal(missing.exitCode, null);
      assert.match(missing.reason ?? '', /cannot start no-such-command-here: command not found/);
      const nowhere = await h.run('w', { cmd: ['true'], cwd: 'no/such/dir' });
      assert.equal(nowhere.exitCode, null);
      assert.match(nowhere.reason ?? '', /no such working directory/);
    });

    it('passes stdin through, its end reaches the command, and a large stdin arrives whole', async () => {
      const upper = await h.run('w', { cmd: ['tr', 'a-z', 'A-Z'], stdin: chunks('hello ', 'world\n') });
      assert.deepEqual([upper.exitCode, upper.out], [0, 'HELLO WORLD\n']);
      // Far more than a pipe holds: it only gets through if writing waits for the command to read.
      const big = Buffer.alloc(4 * 1024 * 1024, 'x');
      const counted = await h.run('w', { cmd: ['sh', '-c', 'sleep 0.2; wc -c'], stdin: chunks(big, big) });
      assert.deepEqual([counted.exitCode, counted.out.trim()], [0, String(2 * big.length)]);
      const none = await h.run('w', { cmd: ['cat'] });
      assert.deepEqual([none.exitCode, none.out], [0, ''], 'without stdin, the command reads its end at once');
    });

    it('applies env and cwd, and hostile values stay literal strings', async () => {
      const dir = 'a dir $(touch pwned-cwd) `touch pwned-tick`';
      assert.equal((await h.run('w', { cmd: ['mkdir', '-p', dir] })).exitCode, 0);
      const env = {
        SUBST: '$(touch pwned-env)',
        QUOTES: `'"; touch pwned-quote; echo "`,
        LINES: 'one\ntwo',
        // names the exec server itself uses: an exec may set them without changing what runs
        dir: '/nowhere',
        argv: 'touch',
        cwd: '/',
        pair: 'x',
        PATH: '/usr/bin:/bin',
        // and names a shell keeps for itself
        RANDOM: '4',
        SECONDS: '5',
        LINENO: '6',
        GROUPS: '7',
        FUNCNAME: '8',
        BASHPID: '9',
        IFS: 'x',
      };
      const seen = await h.run('w', { cmd: ['sh', '-c', 'printf "%s|" "$SUBST" "$QUOTES" "$LINES" "$dir" "$argv" "$cwd" "$pair" "$(basename "$PWD")"', '$(touch pwned-arg)'], env, cwd: dir });
      assert.equal(seen.exitCode, 0, seen.err);
      assert.equal(seen.out, `$(touch pwned-env)|'"; touch pwned-quote; echo "|one\ntwo|/nowhere|touch|/|x|${dir}|`);
      const printed = await h.run('w', { cmd: ['env'], env });
      for (const name of ['RANDOM', 'SECONDS', 'LINENO', 'GROUPS', 'FUNCNAME', 'BASHPID', 'IFS'] as const) {
        assert.ok(printed.out.split('\n').includes(`${name}=${env[name]}`), `${name}=${env[name]} in ${printed.out}`);
      }
      const left = await h.run('w', { cmd: ['sh', '-c', 'ls -a . "$0"', dir] });
      assert.doesNotMatch(left.out, /^pwned-/m, 'no value was evaluated');
    });

    it('carries every character but NUL through argv and env exactly', async () => {
      const every = Array.from({ length: 255 }, (_, i) => String.fromCharCode(i + 1)).join('') + ' é 😀 \\x41 \\c %b ';
      const seen = await h.run('w', { cmd: ['sh', '-c', 'printf "%s" "$0"; printf "|"; printf "%s" "$EVERY"', every], env: { EVERY: every } });
      assert.equal(seen.exitCode, 0, seen.err);
      assert.equal(seen.out, `${every}|${every}`);
    });

    it('refuses, before running anything, env names that are not variable names or are the control plane’s, and NUL bytes', async () => {
      const refused: ExecRequest[] = [
        { cmd: ['true'], env: { 'A=B': 'x' } },
        { cmd: ['true'], env: { LEASEHOLD_HEARTBEAT_TOKEN: 'forged' } },
        { cmd: ['echo', 'a\0b'] },
        { cmd: [] },
      ];
      for (const request of refused) {
        await assert.rejects(h.runtime.exec('w', request, collect().output, never), (error: unknown) => error instanceof RuntimeError && error.code === 'INVALID_EXEC');
      }
    });

    it('ends at its timeout, kills the command and what it started, and says so', async () => {
      const result = await h.run('w', { cmd: ['sh', '-c', 'sleep 3101 & sleep 3102'], timeoutMs: 300 });
      assert.deepEqual([result.exitCode, result.reason], [null, 'timeout']);
      await eventually(async () => assert.doesNotMatch((await h.run('w', { cmd: ['ps', '-eo', 'args'] })).out, /sleep 310[12]/));
    });

    it('ends when cancelled, kills the command, and says so', async () => {
      const abort = new AbortController();
      const seen = collect();
      const running = h.runtime.exec('w', { cmd: ['sh', '-c', 'echo started; exec sleep 3103'] }, seen.output, abort.signal);
      await eventually(() => assert.equal(seen.text(), 'started\n'));
      abort.abort();
      assert.deepEqual(await running, { exitCode: null, reason: 'cancelled' });
      await eventually(async () => assert.doesNotMatch((await h.run('w', { cmd: ['ps', '-eo', 'args'] })).out, /sleep 3103/));
      assert.deepEqual(await h.runtime.exec('w', { cmd: ['true'] }, collect().output, abort.signal), { exitCode: null, reason: 'cancelled' });
    });

    it('runs several execs at once, each with its own output, stdin and exit code', async () => {
      const results = await Promise.all(
        [1, 2, 3, 4].map((n) =>
          h.run('w', { cmd: ['sh', '-c', `touch ready-${n}; while [ $(ls ready-* | wc -l) -lt 4 ]; do sleep 0.02; done; cat; echo err-${n} >&2; exit ${n}`], stdin: chunks(`in-${n}\n`) }),
        ),
      );
      assert.deepEqual(
        results.map((r) => [r.exitCode, r.out, r.err]),
        [1, 2, 3, 4].map((n) => [n, `in-${n}\n`, `err-${n}\n`]),
      );
    });

    it('refuses an unknown workload, one that has exited, and one torn down, without running anything', async () => {
      const code = (expected: string) => (error: unknown) => error instanceof RuntimeError && error.code === expected;
      await assert.rejects(h.runtime.exec('nobody', { cmd: ['true'] }, collect().output, never), code('WORKLOAD_NOT_FOUND'));
      const events = listen(h.runtime);
      try {
        await h.workload('short', 'exit 0');
        await events.exitOf('short', 20_000);
        await assert.rejects(h.runtime.exec('short', { cmd: ['touch', 'ran'] }, collect().output, never), code('WORKLOAD_NOT_RUNNING'));
        await h.runtime.teardown('short');
        await assert.rejects(h.runtime.exec('short', { cmd: ['true'] }, collect().output, never), code('WORKLOAD_NOT_FOUND'));
      } finally {
        events.stop();
      }
    });

    it('returns when the command exits even if a process it left in the background holds its output, which then dies at teardown', async () => {
      await h.workload('bg');
      const seen = await h.run('bg', { cmd: ['sh', '-c', 'sleep 3106 & echo started'] });
      assert.deepEqual([seen.exitCode, seen.out], [0, 'started\n']);
      assert.equal(processesWith('sleep 3106').length, 1, 'the background process outlives its exec, as in a container');
      await h.runtime.teardown('bg');
      await eventually(() => assert.deepEqual(processesWith('sleep 3106'), []));
    });

    it('ends an exec in flight when the workload is torn down, and leaves none of its processes', async () => {
      await h.workload('gone');
      const seen = collect();
      const running = h.runtime.exec('gone', { cmd: ['sh', '-c', 'sleep 3104 & echo started; exec sleep 3105'] }, seen.output, never);
      await eventually(() => assert.equal(seen.text(), 'started\n'));
      await h.runtime.teardown('gone');
      const result = await running;
      assert.equal(result.exitCode, null);
      assert.match(result.reason ?? '', /torn down/);
      await eventually(() => assert.deepEqual([...processesWith('sleep 3104'), ...processesWith('sleep 3105')], []));
    });
  });
}

describe('exec on a launcher that cannot exec', () => {
  it('is refused, and nothing runs on the host in the sandbox’s stead', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-pexec-'));
    // As a microVM launcher without a guest agent: isolating, and no exec of its own.
    const runtime = new ProcessRuntime({ stateDir, launcher: { ...directLauncher, name: 'no-exec', isolated: true, exec: undefined } });
    try {
      await runtime.provision('v', spec('v', ['sleep', '600']));
      const marker = join(stateDir, 'ran-on-the-host');
      await assert.rejects(
        runtime.exec('v', { cmd: ['touch', marker] }, collect().output, never),
        (error: unknown) => error instanceof RuntimeError && error.code === 'EXEC_UNSUPPORTED',
      );
      assert.equal(existsSync(marker), false);
    } finally {
      await runtime.teardown('v');
      await runtime.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('exec into a bubblewrap sandbox: the same sandbox, and nothing more', { skip: bwrapUnavailable ? `bubblewrap cannot create a sandbox here: ${bwrapUnavailable}` : false }, () => {
  const sandboxed = FLAVOURS[1]!;
  let h: ReturnType<typeof harness>;
  let hostDir: string;
  let listener: Server;
  let port: number;
  /** What a process sees of itself that says which sandbox it is in and what it may do. */
  const IDENTITY =
    'grep -E "^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|SigBlk|SigIgn):" /proc/self/status; ' +
    'for ns in cgroup ipc mnt net pid user uts; do echo "$ns $(readlink /proc/self/ns/$ns)"; done; cat /proc/self/cgroup /proc/self/limits';

  before(async () => {
    hostDir = mkdtempSync(join(tmpdir(), 'leasehold-host-'));
    writeFileSync(join(hostDir, 'host-secret'), 'host-only-content');
    listener = createServer((socket) => socket.end('reached the host\n'));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as { port: number }).port;
    h = harness(sandboxed);
    await h.runtime.start();
    await h.workload('a', `(${IDENTITY}) > /tmp/.identity && mv /tmp/.identity /tmp/identity-of-workload; echo a-private > /tmp/a-file; exec sleep 600`);
    await h.workload('b', 'echo b-private > /tmp/b-secret; exec sleep 3201');
  });
  after(async () => {
    await h.close();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    rmSync(hostDir, { recursive: true, force: true });
  });

  it("sees the workload's /tmp, namespaces, user, capabilities, seccomp filter, cgroup and limits, exactly", async () => {
    await eventually(async () => assert.equal((await h.run('a', { cmd: ['test', '-s', '/tmp/identity-of-workload'] })).exitCode, 0));
    const workload = (await h.run('a', { cmd: ['cat', '/tmp/identity-of-workload'] })).out;
    const exec = await h.run('a', { cmd: ['sh', '-c', IDENTITY] });
    assert.equal(exec.exitCode, 0, exec.err);
    assert.equal(exec.out, workload);
    // and those are a sandbox's: no capability, a filter, nothing to gain by exec
    assert.match(exec.out, /^CapEff:\s+0+$/m);
    assert.match(exec.out, /^Seccomp:\s+2$/m);
    assert.match(exec.out, /^NoNewPrivs:\s+1$/m);
    assert.match(exec.out, /^SigIgn:\s+0+$/m, 'no signal ignored: SIGINT and SIGQUIT reach an exec as they reach the workload');
  });

  it("cannot see the host's files, another sandbox's processes or files, or reach the network", async () => {
    const seen = await h.run('a', {
      cmd: [
        'bash',
        '-c',
        'cat "$0"/host-secret; ls /home /root /etc 2>&1; ps -eo args; cat /proc/[0-9]*/cmdline | tr "\\0" " "; ls /tmp; cat /tmp/b-secret; ' +
          '(echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && echo "NETWORK-$((6 * 7))"',
        hostDir,
        String(port),
      ],
    });
    assert.doesNotMatch(seen.out, /host-only-content/);
    assert.doesNotMatch(seen.out, /sleep 3201/, "b's workload is not among a's processes");
    assert.doesNotMatch(seen.out, /b-private/, "b's file is not in a's /tmp");
    assert.doesNotMatch(seen.out, /^b-secret$/m);
    assert.doesNotMatch(seen.out, /NETWORK-42/);
    assert.match(seen.out, /a-file/, "a's own /tmp is there");
    const devices = await h.run('a', { cmd: ['cat', '/proc/net/dev'] });
    const interfaces = [...devices.out.matchAll(/^\s*([\w.-]+):/gm)].map((match) => match[1]);
    assert.deepEqual(interfaces, ['lo'], 'only a loopback of its own');
  });

  it('cannot change the exec directory: nothing can be planted for the control plane to open', async () => {
    const seen = await h.run('a', {
      cmd: [
        'sh',
        '-c',
        'cd /run/leasehold/exec && [ -p control ] && echo SEES-CONTROL; ls . >/dev/null 2>&1 && echo LISTED; ' +
          'rm control && echo REMOVED; mv control c2 && echo MOVED; ln -s / planted && echo PLANTED; touch x && echo TOUCHED; chmod 777 . && echo CHMOD; true',
      ],
    });
    assert.match(seen.out, /SEES-CONTROL/, 'the test looked in the right place');
    assert.doesNotMatch(seen.out, /LISTED|REMOVED|MOVED|PLANTED|TOUCHED|CHMOD/);
    // and execs still work afterwards
    assert.equal((await h.run('a', { cmd: ['true'] })).exitCode, 0);
  });

  it("cannot reach another sandbox's exec server: the host's exec directories are not in view", async () => {
    const seen = await h.run('a', { cmd: ['sh', '-c', 'ls -d /tmp/leasehold-exec-* /run/leasehold/exec/../* 2>/dev/null'] });
    assert.doesNotMatch(seen.out, /leasehold-exec-/);
    assert.equal(seen.out.trim(), '/run/leasehold/exec/../exec', 'only its own exec directory');
  });

  it('dies with the sandbox when its workload ends', async () => {
    await h.workload('ending', 'while [ ! -e /tmp/end ]; do sleep 0.02; done');
    const seen = collect();
    const running = h.runtime.exec('ending', { cmd: ['sh', '-c', 'echo started; exec sleep 3202'] }, seen.output, never);
    await eventually(() => assert.equal(seen.text(), 'started\n'));
    // This exec may itself end with the sandbox before it reports its exit code: not asserted.
    await h.run('ending', { cmd: ['touch', '/tmp/end'] });
    const result = await running;
    assert.equal(result.exitCode, null);
    await eventually(() => assert.deepEqual(processesWith('sleep 3202'), []));
  });

  it('a command that floods its own status pipe with one endless line ends its exec, not the control plane', async () => {
    // The runner's descriptor 9 is the status pipe; the command is the runner's child and may reopen it.
    const result = await h.run('a', { cmd: ['sh', '-c', 'yes x | tr -d "\\n" > /proc/$PPID/fd/9'], timeoutMs: 60_000 });
    assert.deepEqual(result, { exitCode: null, reason: 'the sandbox wrote a status line of more than 1 KiB; the exec was ended', out: '', err: '' });
    await eventually(async () => assert.doesNotMatch((await h.run('a', { cmd: ['ps', '-eo', 'args'] })).out, /^yes x$/m));
  });

  it('a workload that stops serving execs costs only its own execs, which end at their timeout', async () => {
    // The exec server is a process of the sandbox like any other; the workload can kill it.
    await h.workload('rude', "sleep 0.2; pkill -KILL -f '^/bin/bash -p -c'; exec sleep 600");
    await eventually(async () => assert.equal((await h.run('rude', { cmd: ['true'], timeoutMs: 2_000 })).reason, 'timeout'), 20_000);
    assert.equal((await h.run('a', { cmd: ['echo', 'still-fine'] })).out, 'still-fine\n', 'another sandbox is unaffected');
  });
});
