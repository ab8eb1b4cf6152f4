import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { RuntimeError } from '../../src/errors.js';
import type { ExecOutput, ExecRequest } from '../../src/runtime/exec.js';
import type { KubernetesRuntime } from '../../src/runtime/kubernetes/kubernetes-runtime.js';
import { spec } from '../runtime/conformance.js';
import { eventually } from '../helpers/eventually.js';
import { startKube, type KubeHarness } from './kube-harness.js';

/** The kubectl on PATH, or another one to check against. */
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl against the fake, feeding `input` to its stdin. */
function kubectl(kube: KubeHarness, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, ['--kubeconfig', kube.kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A Pod of ours that runs until deleted, Running. */
async function runningPod(kube: KubeHarness, id: string): Promise<void> {
  const runtime = await kube.startedRuntime();
  await runtime.provision(id, spec(id, ['sleep', '3600']));
  await eventually(() => assert.equal(kube.api.get('jobs', `job-${id}`)?.status.phase, 'Running'));
}

describe('kubectl exec against the fake API server', () => {
  let kube: KubeHarness;
  before(async () => {
    kube = await startKube();
    await runningPod(kube, 'x');
  });
  after(() => kube.stop());

  it('shows the command’s stdout and stderr apart, and exits with its exit code', async () => {
    const run = await kubectl(kube, ['exec', 'job-x', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(run.stdout, 'out\n');
    assert.match(run.stderr, /^err\n/);
    assert.equal(run.code, 3, run.stderr);
    assert.equal(kube.api.count('create pods/exec'), 1);
  });

  it('passes stdin through with -i, and its end reaches the command', async () => {
    const run = await kubectl(kube, ['exec', '-i', 'job-x', '--', 'sh', '-c', 'tr a-z A-Z; echo done'], 'hello from stdin\n');
    assert.equal(run.stdout, 'HELLO FROM STDIN\ndone\n', run.stderr);
    assert.equal(run.code, 0);
  });

  it('says a Pod is not found, and refuses a Pod that is not Running', async () => {
    const missing = await kubectl(kube, ['exec', 'job-nope', '--', 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /pods "job-nope" not found/);

    const runtime = await kube.startedRuntime();
    await runtime.provision('pending', spec('pending', ['sleep', '3600'], { image: 'does-not-exist' }));
    await eventually(() => assert.ok(kube.api.get('jobs', 'job-pending')?.spec.nodeName));
    const before = kube.api.count('create pods/exec');
    const pending = await kubectl(kube, ['exec', 'job-pending', '--', 'true']);
    assert.notEqual(pending.code, 0);
    assert.match(pending.stderr, /container not found/);
    // kubectl tries WebSocket, then falls back to SPDY on an upgrade failure: both were refused.
    assert.ok(kube.api.count('create pods/exec') > before, 'the exec reached the server, which refused it');
  });

  it('answers 403 when RBAC lacks create on pods/exec', async () => {
    const other = await startKube();
    try {
      await runningPod(other, 'y');
      other.api.forbid('create', 'pods/exec');
      const run = await kubectl(other, ['exec', 'job-y', '--', 'true']);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /cannot create resource "pods\/exec"/);
    } finally {
      await other.stop();
    }
  });
});

/** Output as it arrives, chunk by chunk. */
function collect() {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const output: ExecOutput = {
    stdout: (chunk) => stdout.push(Buffer.from(chunk)),
    stderr: (chunk) => stderr.push(Buffer.from(chunk)),
  };
  return { output, stdout, stderr, text: () => Buffer.concat(stdout).toString(), errors: () => Buffer.concat(stderr).toString() };
}

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

/**
 * The fake's exec by hand, bytes on the wire: a WebSocket upgrade by POST (which only RBAC `create`
 * allows), then the messages as they arrive, each as [channel, text], until the server closes.
 */
function rawExec(kube: KubeHarness, pod: string, argv: string[]): Promise<{ protocol: string; messages: [number, string][] }> {
  const query = new URLSearchParams([...argv.map((a): [string, string] => ['command', a]), ['stdout', 'true'], ['stderr', 'true']]);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${kube.api.url}/api/v1/namespaces/jobs/pods/${pod}/exec?${query}`, {
      method: 'POST',
      ca: readFileSync(new URL('../../../test/kubernetes/tls/ca.crt', import.meta.url)),
      headers: {
        Authorization: `Bearer ${kube.api.token}`,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.from('0123456789abcdef').toString('base64'),
        'Sec-WebSocket-Protocol': 'v4.channel.k8s.io, v5.channel.k8s.io',
      },
    });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.on('upgrade', (res, socket: Duplex, head: Buffer) => {
      let data = head;
      socket.on('data', (chunk: Buffer) => (data = Buffer.concat([data, chunk])));
      socket.on('end', () => {
        const messages: [number, string][] = [];
        // Server frames are unmasked: [0x82, length (or 126 and 16 bits of length), channel, ...payload].
        for (let at = 0; at < data.length;) {
          const long = data[at + 1] === 126;
          const length = long ? data.readUInt16BE(at + 2) : data[at + 1]!;
          const start = at + (long ? 4 : 2);
          if ((data[at]! & 0x0f) === 0x2) messages.push([data[start]!, data.subarray(start + 1, start + length).toString()]);
          at = start + length;
        }
        resolve({ protocol: String(res.headers['sec-websocket-protocol']), messages });
      });
    });
    req.end();
  });
}

describe('the fake API server speaks exec as a real one does', () => {
  let kube: KubeHarness;
  before(async () => {
    kube = await startKube();
    await runningPod(kube, 'raw');
  });
  after(() => kube.stop());

  it('prefers v5, announces the stream with an empty stdout message, and ends with the Status on channel 3', async () => {
    kube.api.forbid('get', 'pods/exec'); // a POST needs only `create`
    const { protocol, messages } = await rawExec(kube, 'job-raw', ['sh', '-c', 'echo hi; exit 3']);
    assert.equal(protocol, 'v5.channel.k8s.io');
    assert.deepEqual(messages.slice(0, 2), [
      [1, ''],
      [1, 'hi\n'],
    ]);
    const [channel, status] = messages[2]!;
    assert.equal(channel, 3);
    assert.deepEqual(JSON.parse(status), {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c echo hi; exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    assert.equal(messages.length, 3);
  });
});

describe('KubernetesRuntime.exec against the fake API server', () => {
  let kube: KubeHarness;
  let runtime: KubernetesRuntime;
  let scratch: string;
  const never = new AbortController().signal;
  const exec = (request: ExecRequest, output = collect().output, signal = never) => runtime.exec('s', request, output, signal);

  before(async () => {
    kube = await startKube();
    await runningPod(kube, 's');
    runtime = await kube.startedRuntime();
    scratch = mkdtempSync(join(tmpdir(), 'kexec-'));
  });
  after(async () => {
    await kube.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('resumes its TLS session for each later exec instead of a full handshake (one connection per exec, as a WebSocket holds it)', async () => {
    const before = { connections: kube.api.connections, resumed: kube.api.resumedConnections };
    for (let i = 0; i < 4; i++) assert.deepEqual(await exec({ cmd: ['true'] }), { exitCode: 0 });
    const connections = kube.api.connections - before.connections;
    const resumed = kube.api.resumedConnections - before.resumed;
    assert.ok(connections >= 4, 'a WebSocket holds its connection: one per exec');
    assert.ok(resumed >= 3, `at most the first exec needs a full handshake (${resumed} of ${connections} resumed)`);
  });

  it('streams output as it is produced: the first chunk arrives while the command still runs', async () => {
    const gate = join(scratch, 'gate');
    const seen = collect();
    let settled = false;
    const firstChunk = new Promise<void>((resolve) => {
      seen.output.stdout = (chunk) => {
        seen.stdout.push(Buffer.from(chunk));
        resolve();
      };
    });
    // The command waits for a file the test writes only after it has seen the first line.
    const running = exec({ cmd: ['sh', '-c', 'echo first; while [ ! -e "$0" ]; do sleep 0.02; done; echo second', gate] }, seen.output).finally(
      () => (settled = true),
    );
    await firstChunk;
    assert.equal(seen.text(), 'first\n');
    assert.equal(settled, false, 'the exec had not ended when its first output arrived');
    writeFileSync(gate, '');
    assert.deepEqual(await running, { exitCode: 0 });
    assert.equal(seen.text(), 'first\nsecond\n');
  });

  it('keeps stdout and stderr apart and reports the exit code, zero or not', async () => {
    const ok = collect();
    assert.deepEqual(await exec({ cmd: ['sh', '-c', 'echo out; echo err >&2'] }, ok.output), { exitCode: 0 });
    assert.equal(ok.text(), 'out\n');
    assert.equal(ok.errors(), 'err\n');
    assert.deepEqual(await exec({ cmd: ['sh', '-c', 'exit 7'] }), { exitCode: 7 });
    // A command the container cannot start has no exit code; the runtime's message says why.
    const missing = await exec({ cmd: ['no-such-command-here'] });
    assert.equal(missing.exitCode, null);
    assert.match(missing.reason ?? '', /no-such-command-here/);
  });

  it('passes stdin through, and its end reaches the command', async () => {
    const seen = collect();
    assert.deepEqual(await exec({ cmd: ['tr', 'a-z', 'A-Z'], stdin: chunks('hello ', 'world\n') }, seen.output), { exitCode: 0 });
    assert.equal(seen.text(), 'HELLO WORLD\n');
  });

  it('carries a large stdin whole, and big output back', async () => {
    const size = 4 * 1024 * 1024;
    async function* big(): AsyncIterable<Uint8Array> {
      for (let sent = 0; sent < size; sent += 65536) yield new Uint8Array(65536).fill(97);
    }
    const counted = collect();
    assert.deepEqual(await exec({ cmd: ['wc', '-c'], stdin: big() }, counted.output), { exitCode: 0 });
    assert.equal(counted.text().trim(), String(size));
    const echoed = collect();
    assert.deepEqual(await exec({ cmd: ['head', '-c', String(size), '/dev/zero'] }, echoed.output), { exitCode: 0 });
    assert.equal(Buffer.concat(echoed.stdout).length, size);
  });

  it('runs several execs at once in one workload, each with its own output and exit code', async () => {
    const runs = await Promise.all(
      [1, 2, 3, 4].map(async (n) => {
        const seen = collect();
        const result = await exec({ cmd: ['sh', '-c', `for i in 1 2 3; do echo ${n}-$i; sleep 0.01; done; exit ${n}`] }, seen.output);
        return { result, text: seen.text() };
      }),
    );
    runs.forEach(({ result, text }, i) => {
      const n = i + 1;
      assert.deepEqual(result, { exitCode: n });
      assert.equal(text, `${n}-1\n${n}-2\n${n}-3\n`);
    });
  });

  it('stops reading stdin once the exec has ended', async () => {
    let reads = 0;
    let released = false;
    async function* endless(): AsyncIterable<Uint8Array> {
      try {
        for (;;) {
          reads++;
          yield new TextEncoder().encode('x');
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } finally {
        released = true;
      }
    }
    assert.deepEqual(await exec({ cmd: ['true'], stdin: endless() }), { exitCode: 0 });
    await eventually(() => assert.equal(released, true, 'the stdin source was released'));
    const after = reads;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(reads, after);
  });

  it('ends at its timeout, closing the stream, and says so', async () => {
    assert.deepEqual(await exec({ cmd: ['sleep', '30'], timeoutMs: 100 }), { exitCode: null, reason: 'timeout' });
  });

  it('ends when cancelled, and says so', async () => {
    const controller = new AbortController();
    const seen = collect();
    seen.output.stdout = () => controller.abort();
    assert.deepEqual(await exec({ cmd: ['sh', '-c', 'echo started; sleep 30'] }, seen.output, controller.signal), {
      exitCode: null,
      reason: 'cancelled',
    });
    const already = AbortSignal.abort();
    const before = kube.api.count('create pods/exec');
    assert.deepEqual(await exec({ cmd: ['true'] }, collect().output, already), { exitCode: null, reason: 'cancelled' });
    assert.equal(kube.api.count('create pods/exec'), before, 'an exec cancelled before it began never reached the server');
  });

  it('applies env and cwd, and hostile values stay literal strings', async () => {
    const pwned = join(scratch, 'pwned');
    const hostile = {
      SUBST: `$(touch ${pwned}-subst)`,
      QUOTE: `'; touch ${pwned}-quote; '`,
      BACKTICK: `\`touch ${pwned}-backtick\``,
      NEWLINE: `x\ntouch ${pwned}-newline`,
    };
    const dir = join(scratch, `a dir '$(touch ${'pwned-cwd'})'; "x"`);
    mkdirSync(dir);
    const seen = collect();
    const result = await exec({ cmd: ['sh', '-c', 'printenv SUBST QUOTE BACKTICK NEWLINE; pwd', '--'], env: hostile, cwd: dir }, seen.output);
    assert.deepEqual(result, { exitCode: 0 }, seen.errors());
    assert.equal(seen.text(), `${Object.values(hostile).join('\n')}\n${dir}\n`);
    for (const suffix of ['subst', 'quote', 'backtick', 'newline']) assert.equal(existsSync(`${pwned}-${suffix}`), false, suffix);
    // Had the cwd been evaluated, its `$(touch …)` would have run where the command starts.
    assert.equal(existsSync(join(kube.api.podDir('jobs', 'job-s'), 'pwned-cwd')), false);

    // An argument that looks like the wrapper's own end marker is still just an argument.
    const marker = collect();
    await exec({ cmd: ['printf', '%s,', '--', 'A=B'], env: { n: '0' }, cwd: '/' }, marker.output);
    assert.equal(marker.text(), '--,A=B,');
  });

  it('execs into a Pod that has just started even when the watch has not seen it start yet', async () => {
    const fresh = await kube.startedRuntime();
    await fresh.provision('fresh', spec('fresh', ['sleep', '3600']));
    kube.api.stallWatches(); // the runtime's cache keeps the Pod as created: Pending
    await eventually(() => assert.equal(kube.api.get('jobs', 'job-fresh')?.status.phase, 'Running'));
    assert.equal((await fresh.status('fresh')).state, 'pending', 'the watch has not seen it start');
    assert.deepEqual(await fresh.exec('fresh', { cmd: ['true'] }, collect().output, never), { exitCode: 0 });
  });

  it('refuses an env name that is not a variable name, before reaching the server', async () => {
    const before = kube.api.count('create pods/exec');
    await assert.rejects(
      exec({ cmd: ['true'], env: { 'A;touch x': '1' } }),
      (error: unknown) => error instanceof RuntimeError && error.code === 'INVALID_EXEC',
    );
    await assert.rejects(
      exec({ cmd: ['true'], env: { A: 'x\0y' } }),
      (error: unknown) => error instanceof RuntimeError && error.code === 'INVALID_EXEC',
    );
    assert.equal(kube.api.count('create pods/exec'), before);
  });

  it('refuses a workload with no Pod, and a Pod that leasehold did not make, without exec-ing', async () => {
    const before = kube.api.count('create pods/exec');
    await assert.rejects(runtime.exec('nobody', { cmd: ['true'] }, collect().output, never), (error: unknown) => {
      return error instanceof RuntimeError && error.code === 'WORKLOAD_NOT_FOUND' && /job-nobody/.test(error.message);
    });
    // A stranger's Pod of the very name, even one carrying our workload-id label.
    kube.api.seed({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'job-stranger', namespace: 'jobs', labels: { 'leasehold.dev/workload-id': 'stranger' } },
      spec: { containers: [{ name: 'workload', image: 'alpine', command: ['sleep', '3600'] }] },
    });
    await eventually(() => assert.equal(kube.api.get('jobs', 'job-stranger')?.status.phase, 'Running'));
    await assert.rejects(runtime.exec('stranger', { cmd: ['true'] }, collect().output, never), (error: unknown) => {
      return error instanceof RuntimeError && error.code === 'POD_NOT_OURS';
    });
    assert.equal(kube.api.count('create pods/exec'), before, 'no exec request reached the server');
  });

  // Why the Role grants both verbs: the WebSocket opens with a GET (`get`), and servers since 1.30
  // also check `create`.
  for (const verb of ['create', 'get']) {
    it(`names the missing RBAC rule when the Role lacks ${verb} on pods/exec`, async () => {
      kube.api.forbid(verb, 'pods/exec');
      try {
        await assert.rejects(exec({ cmd: ['true'] }), (error: unknown) => {
          return error instanceof RuntimeError && error.code === 'KUBERNETES_FORBIDDEN' && /"pods\/exec"/.test(error.message);
        });
      } finally {
        kube.api.allow(verb, 'pods/exec');
      }
    });
  }
});

describe('KubernetesRuntime.exec against an API server older than 1.30 (v4 only)', () => {
  let kube: KubeHarness;
  before(async () => {
    kube = await startKube({ execProtocols: ['v4.channel.k8s.io'] });
    await runningPod(kube, 'old');
  });
  after(() => kube.stop());

  it('does not lose output when stdin ends, which v4 cannot signal', async () => {
    const runtime = await kube.startedRuntime();
    const seen = collect();
    const result = await runtime.exec(
      'old',
      { cmd: ['sh', '-c', 'head -c 5; echo; echo done'], stdin: chunks('hello') },
      seen.output,
      new AbortController().signal,
    );
    assert.deepEqual(result, { exitCode: 0 });
    assert.equal(seen.text(), 'hello\ndone\n');
  });
});

describe('KubernetesRuntime.exec against a server that sends channels a client does not expect', () => {
  let kube: KubeHarness;
  before(async () => {
    // A resize (4) and a close of stdout (255, 1) from the server: client-node ends the stream the
    // close names, by default this very process's stdout, and throws on channel 4 from inside the
    // socket's event handler.
    kube = await startKube({ execPreamble: [Buffer.of(255, 1), Buffer.from('\x04{"Width":80,"Height":24}')] });
    await runningPod(kube, 'odd');
  });
  after(() => kube.stop());

  it('neither crashes the control plane nor ends its stdout, and still reports the exit code', async () => {
    const runtime = await kube.startedRuntime();
    const result = await runtime.exec('odd', { cmd: ['sh', '-c', 'exit 4'] }, collect().output, new AbortController().signal);
    assert.deepEqual(result, { exitCode: 4 });
    assert.equal(process.stdout.writableEnded, false);
  });
});
