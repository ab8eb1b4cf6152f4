import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Leasehold } from '../../src/client/index.js';
import { BIN } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { useServers, uniqueId } from '../helpers/servers.js';

const servers = useServers();

/**
 * `leasehold session` is held open in a terminal; Ctrl-C ends the session. But the signal was only
 * heard once the session was running: a Ctrl-C while it waited to start (queued behind a full
 * concurrency limit, or a slow provisioning) killed the CLI and left the session behind, to start
 * later with nobody holding it and run until its lease lapsed (`--lease 3600`: an hour).
 */
describe('adversary: Ctrl-C on `leasehold session` before the session runs', () => {
  let tp: TestPlane;
  let lh: Leasehold;
  const blocker = uniqueId('blocker');

  before(async () => {
    tp = await startTestPlane(servers(), { maxConcurrent: { trusted: 1, untrusted: 1 } });
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    // Holds the one trusted slot: a session opened now waits in the queue.
    await lh.submit({ id: blocker, type: 'trusted', image: 'alpine', cmd: ['sleep', '600'] });
    await eventually(async () => assert.equal((await lh.status(blocker))?.state, 'running'), 15_000);
  });
  after(async () => {
    await lh.cancel(blocker).catch(() => undefined);
    await lh.close();
    await tp.stop();
  });

  it('cancels the session it was opening, rather than leave it to start with nobody holding it', async () => {
    const id = uniqueId('held');
    const connection = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', tp.config.keyPrefix];
    const cli = spawn(process.execPath, [BIN, 'session', '--id', id, '--type', 'trusted', '--lease', '600', ...connection], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    cli.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(cli, 'exit') as Promise<[number | null]>;
    try {
      await eventually(async () => assert.equal((await lh.status(id))?.state, 'queued', 'the session waits for a slot'), 15_000);
      cli.kill('SIGINT');
      const [code] = await exited;
      assert.equal(code, 1, stderr);
      assert.match(stderr, new RegExp(`interrupted before session ${id} ran; it was cancelled`));
    } finally {
      if (cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
    }
    await lh.cancel(blocker);
    // Once the slot is free, a session left behind would start and hold it for its 600 s lease.
    await eventually(async () => {
      const status = await lh.status(id);
      assert.deepEqual({ state: status?.state, reason: status?.reason }, { state: 'tornDown', reason: 'cancelled' }, stderr);
    }, 15_000);
  });
});

/** The holding paths of `leasehold session`, which no test drove: end of input, and Ctrl-C, once it runs. */
describe('`leasehold session` held open, then let go', () => {
  let tp: TestPlane;
  let lh: Leasehold;

  before(async () => {
    tp = await startTestPlane(servers());
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
  });
  after(async () => {
    await lh.close();
    await tp.stop();
  });

  for (const letGo of ['end of input', 'Ctrl-C'] as const) {
    it(`ends the session on ${letGo}, and keeps it while held`, async () => {
      const connection = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', tp.config.keyPrefix];
      // A lease of 1 s: only the CLI's heartbeats keep it running while held.
      const cli = spawn(process.execPath, [BIN, 'session', '--type', 'trusted', '--lease', '1', ...connection], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      cli.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      cli.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = once(cli, 'exit') as Promise<[number | null]>;
      try {
        await eventually(() => assert.match(stdout, /^session-[0-9a-f]{10}\n$/, stderr), 15_000);
        const id = stdout.trim();
        await new Promise((resolve) => setTimeout(resolve, 3_000)); // three leases
        assert.equal((await lh.status(id))?.state, 'running', 'held, it outlives its lease');
        const run = lh.exec(id, ['echo', 'in it']);
        assert.deepEqual(await run.result, { exitCode: 0 });
        if (letGo === 'end of input') cli.stdin.end();
        else cli.kill('SIGINT');
        const [code] = await exited;
        assert.equal(code, 0, stderr);
        const status = await lh.status(id);
        assert.deepEqual({ state: status?.state, reason: status?.reason }, { state: 'tornDown', reason: 'cancelled' });
      } finally {
        if (cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
      }
    });
  }
});
