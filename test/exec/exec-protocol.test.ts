import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { ExecFailedError, execInWorkload, type ExecHandle } from '../../src/client/exec.js';
import { ControlPlaneUnavailableError, WorkloadNotFoundError } from '../../src/client/errors.js';
import { DEFAULT_EXEC_LIMITS, type ExecHandler, type ExecLimits } from '../../src/events/exec-protocol.js';
import { NatsExecServer } from '../../src/events/exec-server.js';
import { SUBJECTS } from '../../src/events/transition.js';
import { silentLogger } from '../../src/log.js';
import { RuntimeError } from '../../src/errors.js';
import type { ExecRequest, ExecResult } from '../../src/runtime/exec.js';
import { eventually } from '../helpers/eventually.js';
import { useServers } from '../helpers/servers.js';
import { localExec } from './local-exec.js';
import { text } from '../helpers/streams.js';
import { alive } from '../helpers/processes.js';

const servers = useServers();

/** A runtime that refuses: a reserved env name is the asker's to fix; a launcher without exec says it cannot. */
const refusingExec = (request: ExecRequest): Promise<ExecResult> =>
  Promise.reject(request.env ? new RuntimeError('INVALID_EXEC', 'exec env names starting with LEASEHOLD_ are reserved') : new RuntimeError('EXEC_UNSUPPORTED', 'the firecracker runtime cannot run a command inside a running workload'));

/** The abort signal of every command workload `watched` ran, to see a cancel that lands before the command could write anything. */
const watchedRuns: AbortSignal[] = [];

/** Workload `live` runs commands as local processes, `watched` too and keeps their signals; `refusing` is one whose runtime will not; `asleep` is not running; anything else is unknown. */
const handler: ExecHandler = {
  execRoute: (id) =>
    Promise.resolve(
      id === 'live'
        ? { run: localExec.bind(null) }
        : id === 'watched'
        ? { run: (request: ExecRequest, output: Parameters<typeof localExec>[1], signal: AbortSignal) => (watchedRuns.push(signal), localExec(request, output, signal)) }
        : id === 'refusing'
          ? { run: refusingExec }
          : id === 'asleep'
          ? { code: 'NOT_RUNNING' as const, error: 'workload asleep is provisioning, not running' }
          : { code: 'NOT_FOUND' as const, error: `no workload ${id}` },
    ),
};


describe('exec over NATS: the protocol between an asker and the replica that runs the command', () => {
  let nc: NatsConnection;
  let serverNc: NatsConnection;
  let server: NatsExecServer;
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-exec-'));
  const pids: number[] = [];

  async function serve(limits: Partial<ExecLimits> = {}): Promise<void> {
    await server?.stop();
    server = new NatsExecServer(handler, silentLogger, null, SUBJECTS, { ...DEFAULT_EXEC_LIMITS, ...limits });
    server.start(serverNc);
    await serverNc.flush();
  }
  const exec = (id: string, cmd: string[], options: Parameters<typeof execInWorkload>[4] = {}): ExecHandle => execInWorkload(nc, SUBJECTS, id, cmd, options, 3_000);
  /** Runs `script` in `sh`, which writes its pid to a file first; resolves with that pid. */
  const pidOf = async (file: string) => {
    await eventually(() => assert.ok(existsSync(file) && readFileSync(file, 'utf8').trim() !== ''));
    const pid = Number(readFileSync(file, 'utf8').trim());
    pids.push(pid);
    return pid;
  };

  before(async () => {
    nc = await connect({ servers: servers().nats.url });
    serverNc = await connect({ servers: servers().nats.url });
    await serve();
  });
  afterEach(async () => {
    await serve();
  });
  after(async () => {
    await server.stop();
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await nc.close();
    await serverNc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams output as the command writes it: the first chunk arrives while the command still waits on a file', async () => {
    const gate = join(dir, 'gate');
    const run = exec('live', ['sh', '-c', `echo first; while [ ! -f ${gate} ]; do sleep 0.02; done; echo second >&2; echo third; exit 3`]);
    const stdout = run.stdout[Symbol.asyncIterator]();
    const first = await stdout.next();
    assert.equal(Buffer.from(first.value as Uint8Array).toString(), 'first\n');
    assert.equal(existsSync(gate), false, 'the first chunk came before the command could end');
    writeFileSync(gate, '');
    const [rest, stderr, result] = await Promise.all([text({ [Symbol.asyncIterator]: () => stdout }), text(run.stderr), run.result]);
    assert.equal(rest, 'third\n');
    assert.equal(stderr, 'second\n');
    assert.deepEqual(result, { exitCode: 3 }, "the command's own exit code");
  });

  it('feeds stdin to the command and ends it with EOF, with its own env and working directory', async () => {
    const big = 'x'.repeat(200 * 1024); // several stdin chunks, and several output chunks back
    const run = exec('live', ['sh', '-c', 'wc -c; echo "$GREETING"; pwd'], { stdin: (async function* () { yield 'abc'; yield big; })(), env: { GREETING: 'hi $(touch pwned)' }, cwd: dir });
    const [stdout, result] = await Promise.all([text(run.stdout), run.result]);
    assert.deepEqual(stdout.trim().split('\n').map((l) => l.trim()), [String(3 + big.length), 'hi $(touch pwned)', realpathSync(dir)]);
    assert.deepEqual(result, { exitCode: 0 });
  });

  it('ends a command at its timeout, with no exit code and the reason timeout', async () => {
    const run = exec('live', ['sleep', '30'], { timeoutMs: 200 });
    assert.deepEqual(await run.result, { exitCode: null, reason: 'timeout' });
  });

  it('stops the command when the asker aborts, and rejects the result with the abort reason', async () => {
    const file = join(dir, 'cancel.pid');
    const controller = new AbortController();
    const run = exec('live', ['sh', '-c', `echo $$ > ${file}; exec sleep 30`], { signal: controller.signal });
    const pid = await pidOf(file);
    controller.abort(new Error('changed my mind'));
    await assert.rejects(run.result, /changed my mind/);
    await eventually(() => assert.equal(alive(pid), false, 'the cancelled command is no longer running'));
  });

  it('stops the command of an asker that gives up before the control plane said it started', async () => {
    const run = exec('watched', ['sleep', '30']);
    run.abort(new Error('too soon'));
    await assert.rejects(run.result, /too soon/);
    await eventually(() => assert.equal(watchedRuns.length, 1, 'the request reached the control plane and ran'));
    // Well inside the 30 s reader timeout: the asker's cancel stopped it, not the timeout.
    await eventually(() => assert.equal((watchedRuns[0]!.reason as Error | undefined)?.message, 'cancelled', 'the command whose asker gave up early was cancelled'), 5_000);
    await eventually(() => assert.equal(server.active, 0));
  });

  it('cancels an exec whose asker is gone (nobody reads its output), and stops its command', async () => {
    await serve({ readerTimeoutMs: 300 });
    const file = join(dir, 'orphan.pid');
    const vanishing = await connect({ servers: servers().nats.url });
    const inbox = createInbox();
    vanishing.subscribe(inbox);
    vanishing.publish(SUBJECTS.exec('live'), JSON.stringify({ cmd: ['sh', '-c', `echo $$ > ${file}; exec sleep 30`] }), { reply: inbox });
    const pid = await pidOf(file);
    await vanishing.close();
    await eventually(() => assert.equal(alive(pid), false, 'the command of an asker that left is stopped'));
    await eventually(() => assert.equal(server.active, 0));
  });

  it("rejects an exec whose asker's own connection closes, rather than wait for ever", async () => {
    const own = await connect({ servers: servers().nats.url });
    const file = join(dir, 'closing.pid');
    const run = execInWorkload(own, SUBJECTS, 'live', ['sh', '-c', `echo $$ > ${file}; exec sleep 30`], {}, 3_000);
    await pidOf(file);
    await own.close();
    await assert.rejects(run.result, (error: unknown) => error instanceof ControlPlaneUnavailableError && /connection closed/.test(error.message));
  });

  it('tells the asker when the control plane stops under a running exec, and stops the command', async () => {
    const file = join(dir, 'stopping.pid');
    const run = exec('live', ['sh', '-c', `echo $$ > ${file}; exec sleep 30`]);
    const pid = await pidOf(file);
    await server.stop();
    assert.deepEqual(await run.result, { exitCode: null, reason: 'the control plane is stopping' });
    assert.equal(alive(pid), false);
  });

  it('cancels a command that writes faster than NATS takes it, rather than hold its output in memory', async () => {
    await serve({ maxUnflushedBytes: 1024 * 1024 });
    const gate = join(dir, 'flood-gate');
    const file = join(dir, 'flood.pid');
    const nats = servers().nats.process;
    const run = exec('live', ['sh', '-c', `echo $$ > ${file}; echo ready; while [ ! -f ${gate} ]; do sleep 0.02; done; exec head -c 268435456 /dev/zero`]);
    const chunks = run.stdout[Symbol.asyncIterator]();
    await chunks.next();
    const pid = await pidOf(file);
    nats.kill('SIGSTOP'); // NATS takes nothing now: every byte of output waits in the control plane
    try {
      writeFileSync(gate, '');
      await eventually(() => assert.equal(alive(pid), false, 'the flooding command was stopped'));
    } finally {
      nats.kill('SIGCONT');
    }
    assert.deepEqual(await run.result, { exitCode: null, reason: 'output faster than NATS takes it' });
  });

  it('keeps an exec whose asker pings, past the reader timeout', async () => {
    await serve({ readerTimeoutMs: 300 });
    const gate = join(dir, 'pinged-gate');
    const run = exec('live', ['sh', '-c', `while [ ! -f ${gate} ]; do sleep 0.05; done; echo done`], { pingMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // three reader timeouts, silent output
    writeFileSync(gate, '');
    assert.deepEqual(await run.result, { exitCode: 0 });
  });

  it('runs several execs in one workload at once, and answers BUSY past the per-workload bound', async () => {
    await serve({ maxPerWorkload: 3 });
    const gate = join(dir, 'many-gate');
    const runs = [1, 2, 3].map((n) => exec('live', ['sh', '-c', `echo ${n}; while [ ! -f ${gate} ]; do sleep 0.02; done; exit ${n}`]));
    // All three are running: each has written its first line.
    await Promise.all(runs.map(async (run) => (await run.stdout[Symbol.asyncIterator]().next()).value));
    const fourth = exec('live', ['true']);
    await assert.rejects(fourth.result, (error: unknown) => error instanceof ExecFailedError && error.code === 'BUSY' && error.transient);
    writeFileSync(gate, '');
    assert.deepEqual((await Promise.all(runs.map((run) => run.result))).map((r) => r.exitCode), [1, 2, 3]);
  });

  it('ignores a request whose reply subject is not an inbox: nothing runs, nothing is published there', async () => {
    const victim = await connect({ servers: servers().nats.url });
    const seen: string[] = [];
    victim.subscribe('leasehold.cancel.victim', { callback: (_e, msg) => void seen.push(msg.subject) });
    await victim.flush();
    const file = join(dir, 'hijack');
    nc.publish(SUBJECTS.exec('live'), JSON.stringify({ cmd: ['touch', file] }), { reply: 'leasehold.cancel.victim' });
    await eventually(() => assert.equal(server.ignored, 1));
    // And a well-formed exec after it runs (the server is not stuck), which orders the check below.
    assert.deepEqual(await exec('live', ['true']).result, { exitCode: 0 });
    assert.equal(existsSync(file), false, 'the command of a request with a non-inbox reply never ran');
    assert.deepEqual(seen, [], 'nothing was published on the reply subject the asker chose');
    await victim.close();
  });

  it('says clearly when the workload is not running, unknown, or the request is malformed', async () => {
    await assert.rejects(exec('asleep', ['true']).result, (error: unknown) => error instanceof ExecFailedError && error.code === 'NOT_RUNNING' && /provisioning/.test(error.message));
    await assert.rejects(exec('nobody', ['true']).result, WorkloadNotFoundError);
    await assert.rejects(exec('live', []).result, (error: unknown) => error instanceof ExecFailedError && error.code === 'INVALID_REQUEST' && /cmd/.test(error.message));
    await assert.rejects(exec('live', ['sh'], { env: { 'A=B': 'x' } }).result, (error: unknown) => error instanceof ExecFailedError && error.code === 'INVALID_REQUEST');
  });

  it("names the runtime's refusal: a request it will not take is the asker's to fix, a sandbox without exec is unsupported", async () => {
    await assert.rejects(exec('refusing', ['true'], { env: { LEASEHOLD_X: '1' } }).result, (error: unknown) => error instanceof ExecFailedError && error.code === 'INVALID_REQUEST' && /reserved/.test(error.message));
    await assert.rejects(exec('refusing', ['true']).result, (error: unknown) => error instanceof ExecFailedError && error.code === 'UNSUPPORTED');
  });

  it('reports a lost answer message as lost output, never as a clean end', async () => {
    // A responder that skips message 1: the client must notice the gap.
    await server.stop();
    const responder = await connect({ servers: servers().nats.url });
    const { headers } = await import('@nats-io/transport-node');
    responder.subscribe(SUBJECTS.exec('live'), {
      callback: (_e, msg) => {
        const send = (kind: string, seq: number, body: string) => {
          const h = headers();
          h.set('Leasehold-Exec-Kind', kind);
          h.set('Leasehold-Exec-Seq', String(seq));
          responder.publish(msg.reply!, body, { headers: h });
        };
        send('started', 0, JSON.stringify({ exec: 'a'.repeat(24) }));
        send('stdout', 2, 'tail');
        send('exit', 3, JSON.stringify({ exitCode: 0 }));
      },
    });
    await responder.flush();
    await assert.rejects(exec('live', ['true']).result, (error: unknown) => error instanceof ExecFailedError && error.code === 'LOST_OUTPUT');
    await responder.close();
  });
});
