import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { runCli, spawnCli, startCliControlPlane } from '../helpers/cli.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';

const servers = useServers();

describe('the leasehold CLI against a running control plane', () => {
  let plane: { child: ChildProcess; exited: Promise<number | null>; logs: () => string };
  let conn: string[];
  let stateDir: string;
  let prefix: string;
  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'leasehold-cli-'));
    prefix = uniquePrefix();
    conn = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix];
    plane = await startCliControlPlane([...conn, '--http-port', '0', '--state-dir', stateDir, '--grace', '500']);
  });
  after(async () => {
    if (plane.child.exitCode === null) plane.child.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('submit --wait follows a workload to its end, prints its output, and exits 0 when it completed', async () => {
    const result = await runCli(['submit', '--wait', '--id', 'cli-ok', ...conn, '--', 'echo', 'hello']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 6);
    assert.match(lines[0]!, /cli-ok\s+∅\s+→ queued/);
    assert.match(lines[4]!, /expiring\s+→ tornDown\s+runtime\.tornDown\s+reason=completed exitCode=0/);
    assert.equal(lines[5], 'hello');
  });

  it("submit --wait exits with the workload's exit code when it fails, and says why", async () => {
    const result = await runCli(['submit', '--wait', '--id', 'cli-fail', '--cmd', 'exit 4', ...conn]);
    assert.equal(result.code, 4);
    assert.match(result.stdout, /reason=failed exitCode=4/);
  });

  it('submits a JSON payload file exactly as a producer would push it', async () => {
    const file = join(stateDir, 'payload.json');
    writeFileSync(file, '{"id":"cli-file","type":"trusted","image":"alpine","cmd":"echo from a file"}');
    const result = await runCli(['submit', '-f', file, '--wait', '-o', 'json', ...conn]);
    assert.equal(result.code, 0, result.stderr);
    const items = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { kind: string; to?: string; exitCode?: number; logs?: string });
    const end = items.find((t) => t.to === 'tornDown')!;
    assert.deepEqual([end.kind, end.exitCode], ['transition', 0]);
    assert.deepEqual(items.at(-1), { kind: 'logs', id: 'cli-file', logs: 'from a file\n' });
    assert.equal((await runCli(['logs', 'cli-file', ...conn])).stdout, 'from a file\n');
  });

  it('refuses bad input before it reaches the queue, with the reason and exit code 2', async () => {
    const bad = await runCli(['submit', '--id', 'Bad_Id', ...conn, '--', 'true']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^leasehold: not submitted: id: must be a DNS-1123 label/);
    const notANumber = await runCli(['submit', '--lease-seconds', 'abc', ...conn, '--', 'true']);
    assert.equal(notANumber.code, 2, 'a usage error');
    assert.equal(notANumber.stderr, "error: option '--lease-seconds <s>' argument 'abc' is invalid. expected a whole number, got \"abc\"\n");
    const dup = await runCli(['submit', '--id', 'cli-ok', ...conn, '--', 'true']);
    assert.equal(dup.code, 2);
    assert.equal(dup.stderr, 'leasehold: not submitted: duplicate id cli-ok\n');
    const redis = redisClient(servers().redis.url);
    assert.equal(await redis.llen(`${prefix}workload_queue`), 0, 'nothing was pushed');
    await redis.quit();
  });

  it('status, logs and cancel answer from the control plane; -o json gives data', async () => {
    const status = await runCli(['status', 'cli-ok', '-o', 'json', ...conn]);
    assert.equal(status.code, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as { state: string; exitCode: number; reason: string };
    assert.deepEqual([parsed.state, parsed.reason, parsed.exitCode], ['tornDown', 'completed', 0]);
    const logs = await runCli(['logs', 'cli-ok', ...conn]);
    assert.equal(logs.stdout, 'hello\n');
    assert.equal(logs.stderr, 'leasehold: logs talks to NATS only; --redis and --key-prefix are ignored\n', 'scripts that passed them still run, told they are ignored');

    const submitted = await runCli(['submit', '--id', 'cli-long', ...conn, '--', 'sleep', '30']);
    assert.equal(submitted.stdout, 'submitted cli-long\n');
    const watch = spawnCli(['watch', 'cli-long', ...conn]);
    for (let i = 0; ; i++) {
      const s = await runCli(['status', 'cli-long', '-o', 'json', ...conn]);
      if (s.code === 0 && (JSON.parse(s.stdout) as { state: string }).state === 'running') break;
      assert.ok(i < 100, 'cli-long never ran');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The watcher must be following before the cancel, or it starts late and sees only the end.
    for (let i = 0; !watch.output().stdout.includes('now:'); i++) {
      assert.ok(i < 200, `the watcher never started: ${JSON.stringify(watch.output())}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const cancel = await runCli(['cancel', 'cli-long', ...conn]);
    assert.equal(cancel.stdout, 'cancelling cli-long (was running)\n');
    const watched = await watch.exited;
    assert.equal(watched.code, 0);
    assert.match(watched.stdout, /→ tornDown\s+runtime\.tornDown\s+reason=cancelled/);
    const unknown = await runCli(['status', 'no-such-workload', '--nats', servers().nats.url]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'leasehold: no workload no-such-workload\n');
  });

  it('exits cleanly on SIGTERM, leaving a workload it had not admitted on record', async () => {
    const redis = redisClient(servers().redis.url);
    try {
      plane.child.kill('SIGTERM');
      assert.equal(await plane.exited, 0);
      await redis.lpush(`${prefix}workload_queue`, JSON.stringify({ id: 'after-term', type: 'trusted', image: 'alpine', cmd: ['true'] }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(await redis.llen(`${prefix}workload_queue`), 1, 'a stopped control plane takes nothing');
    } finally {
      await redis.quit();
    }
  });
});

describe('leasehold start with a server it cannot reach', () => {
  it('says which Redis it could not reach and how to point it elsewhere, in one line, and exits 2', async () => {
    const result = await runCli(['start', '--redis', 'redis://127.0.0.1:1', '--nats', servers().nats.url, '--http-port', '0']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^leasehold: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(.+\); start it or set --redis \/ REDIS_URL$/m);
    assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  });
});
