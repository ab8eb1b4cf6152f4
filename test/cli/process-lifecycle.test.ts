import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesWith } from '../helpers/processes.js';
import { runCli, startCliControlPlane } from '../helpers/cli.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();

/** A loopback port held by someone else for the duration of `body`. */
async function withTakenPort<T>(body: (port: number) => Promise<T>): Promise<T> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  try {
    return await body((holder.address() as { port: number }).port);
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }
}

function serversUnder(dir: string): string[] {
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid))
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return /(redis|nats)-server/.test(cmdline) && cmdline.includes(dir);
      } catch {
        return false;
      }
    });
}

describe('the control plane process: start-up failures and SIGTERM', () => {
  it('start with its HTTP port taken says so in one line and exits 2, with no stack trace', async () => {
    await withTakenPort(async (port) => {
      const result = await runCli(['start', '--redis', servers().redis.url, '--nats', servers().nats.url, '--http-port', String(port), '--key-prefix', uniquePrefix()]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`^leasehold: cannot listen on 127\\.0\\.0\\.1:${port} \\(the address is in use\\); pick another with --http-port`, 'm'));
      assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
    });
  });

  it('dev with its HTTP port taken stops the redis-server and nats-server it started', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-dev-fail-'));
    try {
      await withTakenPort(async (port) => {
        const result = await runCli(['dev', '--http-port', String(port), '--state-dir', stateDir]);
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /cannot listen on/);
        assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
      });
      // dev keeps its servers' data under the state directory, so their command lines name it.
      assert.deepEqual(serversUnder(stateDir), [], 'no redis-server or nats-server left running');
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('SIGTERM ends the process at once, stopping the local workload no other replica could adopt, and the next start ends it lost', async () => {
    const prefix = uniquePrefix();
    const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-term-'));
    const marker = `sleep 63.${process.pid}`;
    const args = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--state-dir', stateDir, '--http-port', '0', '--grace', '1000'];
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    try {
      const first = await startCliControlPlane(args);
      await redis.lpush(`${prefix}workload_queue`, JSON.stringify({ id: 'outlives', type: 'trusted', image: 'alpine', cmd: marker }));
      await recorder.until(() => recorder.of('outlives').some((m) => m.to === 'running'), 10_000, 'running');
      first.child.kill('SIGTERM');
      // It used to wait for the workload itself to exit: 60 s here. Now it hands its shards over,
      // which stops a local process (a process is only its parent's to adopt), within --grace.
      assert.equal(await Promise.race([first.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 20_000))]), 0);
      assert.deepEqual(processesWith(marker), [], 'no workload process is left running unowned');

      const second = await startCliControlPlane(args);
      try {
        await recorder.untilEnded(['outlives'], 20_000);
        assert.equal(recorder.ended('outlives')!.reason, 'lost');
        assert.equal(recorder.of('outlives').filter((m) => m.to === 'provisioning').length, 1, 'it is not started again');
      } finally {
        second.child.kill('SIGTERM');
        await second.exited;
      }
    } finally {
      for (const pid of processesWith(marker)) process.kill(Number(pid), 'SIGKILL');
      await recorder.close();
      await redis.quit();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('a control plane killed with -9 leaves a heartbeat socket directory that the next start removes', async () => {
    const args = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', uniquePrefix(), '--http-port', '0'];
    const first = await startCliControlPlane(args);
    const pid = first.child.pid!;
    const left = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`leasehold-hb-${pid}-`));
    assert.equal(left().length, 1);
    first.child.kill('SIGKILL');
    await first.exited;
    assert.equal(left().length, 1, 'kill -9 gives no chance to clean up');
    const second = await startCliControlPlane(args);
    try {
      assert.deepEqual(left(), []);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
