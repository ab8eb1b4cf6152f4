import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { BIN, runCli } from '../helpers/cli.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { redisClient, useServers } from '../helpers/servers.js';

/**
 * On a NATS server whose permissions are missing or wrong, anyone may publish anything. The CLI
 * must still not crash on junk, nor print, as the control plane's, an answer that is malformed
 * or about another workload. (A well-formed forgery is another matter: only the server's
 * permissions stop it; see manifests/nats.conf and nats-permissions.test.ts.)
 */
const servers = useServers();

describe('what the CLI reads from NATS is shape-checked', () => {
  it('a malformed message on workloads.<id>.<state> neither crashes `leasehold watch` nor is printed; the real transitions are', { timeout: 60_000 }, async () => {
    const tp = await startTestPlane(servers());
    const redis = redisClient(servers().redis.url);
    const rogue = await connect({ servers: servers().nats.url });
    const watch = spawn(process.execPath, [BIN, 'watch', 'real-w', '--nats', servers().nats.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    watch.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    watch.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => watch.once('exit', resolve));
    try {
      for (let i = 0; !stdout.includes('not known yet'); i++) {
        assert.ok(i < 500 && watch.exitCode === null, `watch did not start: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const junk of [
        'not json at all',
        '{"id":"real-w"}',
        JSON.stringify({ id: 'real-w', type: 'trusted', from: 'running', to: 'tornDown', event: 'x', at: 'yesterday', seq: 1e300 }),
        // Well-formed, but for another workload than its subject names.
        JSON.stringify({ id: 'other', type: 'trusted', from: 'running', to: 'tornDown', event: 'runtime.exited', reason: 'completed', at: new Date().toISOString(), seq: 50 }),
      ]) {
        rogue.publish('workloads.real-w.tornDown', junk);
      }
      await rogue.flush();
      await redis.lpush(tp.plane.keys.queue, JSON.stringify({ id: 'real-w', type: 'trusted', image: 'alpine', cmd: ['true'] }));
      assert.equal(await exited, 0, stderr);
      assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
      assert.match(stderr, /ignored a malformed message on workloads\.real-w\.tornDown/);
      const lines = stdout.trim().split('\n').slice(1);
      assert.equal(lines.length, 5, stdout);
      assert.match(lines[4]!, /real-w\s+expiring\s+→ tornDown .*reason=completed exitCode=0/);
    } finally {
      if (watch.exitCode === null) watch.kill('SIGKILL');
      await rogue.close();
      await redis.quit();
      await tp.stop();
    }
  });

  it('a status answer that is junk, or about another workload, is refused rather than printed', async () => {
    const rogue = await connect({ servers: servers().nats.url });
    const answers = [
      JSON.stringify({ id: 'other', type: 'trusted', state: 'running', seq: 1, timings: {} }),
      JSON.stringify({ id: 'asked', type: 'trusted', state: '<img src=x onerror=alert(1)>', seq: 1, timings: {} }),
      '[1,2,3]',
      'no json',
    ];
    let next = 0;
    rogue.subscribe('leasehold.status.*', {
      callback: (error, msg) => {
        if (!error) msg.respond(answers[next++ % answers.length]!);
      },
    });
    await rogue.flush();
    try {
      for (let i = 0; i < answers.length; i++) {
        const result = await runCli(['status', 'asked', '--nats', servers().nats.url]);
        assert.equal(result.code, 1, `answer ${i}: ${result.stdout}`);
        assert.equal(result.stdout, '', `answer ${i} is not printed`);
        assert.equal(result.stderr, 'leasehold: the answer to status asked is not a well-formed control-plane reply; ignored it\n', `answer ${i}`);
      }
    } finally {
      await rogue.close();
    }
  });
});
