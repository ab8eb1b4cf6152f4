import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { parse as parseYaml } from 'yaml';
import { startNats } from '../../src/dev/servers.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';

const servers = useServers();

/** What a person sees of a workload's end: status, watch, submit --wait, logs. */
describe('the CLI tells a failed workload from a failed command', () => {
  let tp: TestPlane;
  let nats: string[];
  let conn: string[];
  let dir: string;
  before(async () => {
    tp = await startTestPlane(servers());
    nats = ['--nats', servers().nats.url];
    conn = ['--redis', servers().redis.url, ...nats, '--key-prefix', tp.config.keyPrefix];
    dir = mkdtempSync(join(tmpdir(), 'leasehold-outcome-'));
    const failed = await runCli(['submit', '--wait', '--id', 'oops', ...conn, '--cmd', 'echo oops >&2; exit 3']);
    assert.equal(failed.code, 3, failed.stderr);
  });
  after(async () => {
    await tp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status of a failed workload prints its status (tornDown, failed, exit code 3, the error) and exits 0, in text, json and yaml', async () => {
    const text = await runCli(['status', 'oops', ...nats]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stderr, '');
    assert.match(text.stdout, /^oops \(trusted\): tornDown\n {2}reason: {3}failed\n {2}exitCode: 3\n {2}error: {4}oops\n/);
    for (const format of ['json', 'yaml'] as const) {
      const data = await runCli(['status', 'oops', '-o', format, ...nats]);
      assert.equal(data.code, 0, data.stderr);
      const status = (format === 'json' ? JSON.parse(data.stdout) : parseYaml(data.stdout)) as Record<string, unknown>;
      assert.deepEqual([status.state, status.reason, status.exitCode, status.error], ['tornDown', 'failed', 3, 'oops'], format);
    }
  });

  it('watch of a workload that already ended prints where it ended and exits 0, not "waiting forever"', async () => {
    const result = await runCli(['watch', 'oops', '--timeout', '0', ...nats]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^now: oops \(trusted\): tornDown\n {2}reason: {3}failed\n {2}exitCode: 3/);
    assert.doesNotMatch(result.stdout, /not known yet/);
  });

  it('watch -o json of a running workload: every line says its kind, the status it starts with as well as the transitions', async () => {
    const gate = join(dir, 'kinds-go');
    const submitted = await runCli(['submit', '--id', 'kinds', ...conn, '--cmd', `while [ ! -e ${gate} ]; do sleep 0.05; done`]);
    assert.equal(submitted.code, 0, submitted.stderr);
    await eventually(async () => assert.match((await runCli(['status', 'kinds', ...nats])).stdout, /: running\n/));
    const watch = spawnCli(['watch', 'kinds', '-o', 'json', ...nats]);
    await eventually(() => assert.match(watch.output().stdout, /\n$/));
    writeFileSync(gate, '');
    const result = await watch.exited;
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; state?: string; to?: string });
    assert.deepEqual(
      lines.map((l) => [l.kind, l.state ?? l.to]),
      [
        ['status', 'running'],
        ['transition', 'expiring'],
        ['transition', 'tornDown'],
      ],
    );
  });

  it("submit --wait exits with the workload's own exit code, says so on stderr, and prints its output at the end", async () => {
    const result = await runCli(['submit', '--wait', '--id', 'three', ...conn, '--cmd', 'echo working; exit 3']);
    assert.equal(result.code, 3);
    assert.equal(result.stderr, 'leasehold: three failed with exit code 3\n');
    const lines = result.stdout.trim().split('\n');
    assert.match(lines.at(-2)!, /→ tornDown\s+runtime\.tornDown\s+reason=failed exitCode=3/);
    assert.equal(lines.at(-1), 'working');
  });

  it('submit --wait exits 126 when the workload ends without an exit code of its own (cancelled)', async () => {
    const wait = spawnCli(['submit', '--wait', '--id', 'to-cancel', ...conn, '--', 'sleep', '30']);
    await eventually(async () => assert.match((await runCli(['status', 'to-cancel', ...nats])).stdout, /: running\n/));
    assert.equal((await runCli(['cancel', 'to-cancel', ...nats])).code, 0);
    const result = await wait.exited;
    assert.equal(result.code, 126);
    assert.match(result.stderr, /^leasehold: to-cancel ended \(cancelled\) without an exit code of its own; exit code 126\n$/);
  });

  it('submit --wait --timeout is an overall deadline: a workload still running makes it exit 124, naming where it is', async () => {
    const result = await runCli(['submit', '--wait', '--timeout', '2', '--id', 'slow', ...conn, '--', 'sleep', '30']);
    assert.equal(result.code, 124);
    assert.match(result.stderr, /^leasehold: gave up waiting for slow after 2 s: it is running and goes on \(`leasehold watch slow` follows it, `leasehold cancel slow` ends it\)\n$/);
    assert.equal((await runCli(['cancel', 'slow', ...nats])).code, 0);
  });

  it('submit --wait with nothing consuming the queue says so in a clear line within the timeout, exit 124, never a raw TimeoutError', async () => {
    const prefix = uniquePrefix();
    const result = await runCli(['submit', '--wait', '--timeout', '2', '--id', 'nobody', '--redis', servers().redis.url, ...nats, '--key-prefix', prefix, '--', 'true']);
    assert.equal(result.code, 124);
    assert.doesNotMatch(result.stderr, /TimeoutError/);
    assert.match(result.stderr, new RegExp(`^leasehold: nothing has taken nobody from ${prefix}workload_queue yet; is a control plane consuming this Redis with --key-prefix ${prefix}\\? Still waiting\\.\n`));
    assert.match(result.stderr, new RegExp(`leasehold: gave up waiting for nobody after 2 s: it is still in ${prefix}workload_queue: no control plane took it`));
  });

  it("submit --wait exits 125 when the CLI itself fails: an id already taken, a NATS it cannot reach, a wrong flag", async () => {
    const taken = await runCli(['submit', '--wait', '--id', 'oops', ...conn, '--', 'true']);
    assert.equal(taken.code, 125);
    assert.equal(taken.stderr, 'leasehold: not submitted: duplicate id oops\n');
    const unreachable = await runCli(['submit', '--wait', '--id', 'no-nats', '--redis', servers().redis.url, '--nats', 'nats://127.0.0.1:1', '--key-prefix', tp.config.keyPrefix, '--', 'true']);
    assert.equal(unreachable.code, 125);
    const wrongFlag = await runCli(['submit', '--wait', '--lease-seconds', 'abc', ...conn, '--', 'true']);
    assert.equal(wrongFlag.code, 125);
    const withoutWait = await runCli(['submit', '--lease-seconds', 'abc', ...conn, '--', 'true']);
    assert.equal(withoutWait.code, 2, 'a usage error is 2 everywhere else');
  });

  it('submit --follow streams the output while the workload runs, each piece once', async () => {
    const gate = join(dir, 'go');
    const follow = spawnCli(['submit', '--follow', '--id', 'streams', ...conn, '--cmd', `echo one; while [ ! -e ${gate} ]; do sleep 0.05; done; echo two`]);
    await eventually(() => assert.match(follow.output().stdout, /^one$/m), 15_000);
    assert.doesNotMatch(follow.output().stdout, /→ expiring/, 'still running when its first line was shown');
    writeFileSync(gate, '');
    const result = await follow.exited;
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    assert.equal(out.match(/^one$/gm)?.length, 1);
    assert.equal(out.match(/^two$/gm)?.length, 1);
    assert.ok(out.indexOf('one') < out.indexOf('→ expiring'), out);
  });

  it('logs --tail N prints the last N lines; logs -f follows a running workload to its end, printing only what is new', async () => {
    const gate = join(dir, 'logs-go');
    const submitted = await runCli(['submit', '--id', 'chatty', ...conn, '--cmd', `for i in 1 2 3 4 5; do echo line $i; done; while [ ! -e ${gate} ]; do sleep 0.05; done; echo line 6`]);
    assert.equal(submitted.code, 0, submitted.stderr);
    await eventually(async () => assert.match((await runCli(['logs', 'chatty', ...nats])).stdout, /line 5\n$/));
    assert.equal((await runCli(['logs', 'chatty', '--tail', '2', ...nats])).stdout, 'line 4\nline 5\n');
    const follow = spawnCli(['logs', '-f', '--tail', '1', '--interval', '100', 'chatty', ...nats]);
    await eventually(() => assert.equal(follow.output().stdout, 'line 5\n'));
    assert.equal(follow.child.exitCode, null, 'still following');
    writeFileSync(gate, '');
    const result = await follow.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'line 5\nline 6\n');
    assert.ok(existsSync(gate));
  });

  it('watch <unknown id> gives up after --timeout, says so, and exits 124', async () => {
    const result = await runCli(['watch', 'never-submitted', '--timeout', '1', ...nats]);
    assert.equal(result.code, 124);
    assert.equal(result.stdout, 'never-submitted: not known yet; waiting up to 1 s for it\n');
    assert.match(result.stderr, /^leasehold: no workload never-submitted appeared within 1 s/);
  });

  it('submit -f payload.json --id x --type …: the flags override the file, and --env adds to its env', async () => {
    const prefix = uniquePrefix();
    const file = join(dir, 'payload.json');
    writeFileSync(file, JSON.stringify({ id: 'from-file', type: 'trusted', image: 'alpine', cmd: ['true'], env: { A: '1', B: '2' } }));
    const result = await runCli(['submit', '-f', file, '--id', 'from-flag', '--type', 'untrusted', '-e', 'B=3', '--redis', servers().redis.url, '--key-prefix', prefix]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'submitted from-flag\n');
    const redis = redisClient(servers().redis.url);
    try {
      const [pushed] = await redis.lrange(`${prefix}workload_queue`, 0, -1);
      assert.deepEqual(JSON.parse(pushed!), { id: 'from-flag', type: 'untrusted', image: 'alpine', cmd: ['true'], env: { A: '1', B: '3' } });
      // With no flag the file goes as it is, byte for byte.
      writeFileSync(file, '{"id":"as-is",  "type":"trusted","image":"alpine","cmd":"true"}');
      await runCli(['submit', '-f', file, '--redis', servers().redis.url, '--key-prefix', prefix]);
      assert.equal(await redis.lindex(`${prefix}workload_queue`, 0), '{"id":"as-is",  "type":"trusted","image":"alpine","cmd":"true"}');
    } finally {
      await redis.quit();
    }
  });
});

describe('the CLI and a NATS that goes away', () => {
  it('watch exits non-zero, saying the connection was lost, when NATS drops', async () => {
    const nats = await startNats();
    const watch = spawnCli(['watch', '--nats', nats.url]);
    try {
      await eventually(() => assert.match(watch.output().stdout, /^watching workloads\.>/));
      await nats.stop();
      const result = await watch.exited;
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^leasehold: lost the connection to NATS at nats:\/\/127\.0\.0\.1:\d+; stopped watching\n$/);
    } finally {
      if (watch.child.exitCode === null) watch.child.kill('SIGKILL');
      await nats.stop();
    }
  });

  it('a status answer that names a state but is not well-formed is not printed as a refusal', async () => {
    const nats = await startNats();
    const rogue = await connect({ servers: nats.url });
    rogue.subscribe('leasehold.status.*', {
      callback: (error, msg) => {
        if (!error) msg.respond(JSON.stringify({ id: 'odd', type: 'trusted', state: 'tornDown', seq: 'five', exitCode: 3, error: 'oops', timings: {} }));
      },
    });
    await rogue.flush();
    try {
      const result = await runCli(['status', 'odd', '--nats', nats.url]);
      assert.equal(result.code, 1);
      assert.equal(result.stderr, 'leasehold: the answer to status odd is not a well-formed control-plane reply; ignored it\n');
    } finally {
      await rogue.close();
      await nats.stop();
    }
  });
});
