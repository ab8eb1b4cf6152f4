import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { bashCompletes, runCli, spawnCli, startCliControlPlane } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { uniquePrefix, useServers } from '../helpers/servers.js';

/** Bullets of issue 12 that had no CLI test of their own (see the audit in docs/pending/cli12.md). */
const servers = useServers();

const within = <T>(promise: Promise<T>, ms: number) => Promise.race([promise, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms))]);

describe('issue 12: what a first hour with the CLI ran into, each kept as a test', () => {
  it('-o yaml is offered wherever -o json is, on every command and subcommand', () => {
    const commands = bashCompletes('leasehold ');
    assert.ok(commands.includes('list') && commands.includes('dead-letters'), commands.join(' '));
    let withJson = 0;
    for (const command of commands) {
      const paths = [[command], ...bashCompletes(`leasehold ${command} `).filter((s) => !s.startsWith('-')).map((sub) => [command, sub])];
      for (const path of paths) {
        const formats = bashCompletes(`leasehold ${path.join(' ')} -o `);
        if (!formats.includes('json')) continue;
        withJson++;
        assert.ok(formats.includes('yaml'), `leasehold ${path.join(' ')} -o offers ${formats.join(', ')}`);
      }
    }
    assert.ok(withJson >= 6, `only ${withJson} commands offer -o json: is completion still walking the tree?`);
  });

  it('start with a kubeconfig it cannot read: says so, naming it, and exits non-zero instead of hanging on its open connections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-kubeconfig-'));
    try {
      const kubeconfig = join(dir, 'config');
      writeFileSync(kubeconfig, 'apiVersion: v1\nclusters: [ {name: broken\n');
      const args = ['start', '--runtime', 'kubernetes', '--kubeconfig', kubeconfig, '--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', uniquePrefix(), '--http-port', '0'];
      const started = spawnCli(args);
      const result = await within(started.exited, 30_000);
      // Closed whatever happened: a hanging one must not outlive the test.
      if (result === 'still running') started.child.kill('SIGKILL');
      assert.notEqual(result, 'still running', `it printed its error and then did not exit:\n${started.output().stderr}`);
      if (result === 'still running') return;
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, new RegExp(`^leasehold: cannot read the kubeconfig ${kubeconfig}: `, 'm'));
      assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('SIGTERM while Redis is down', () => {
    let redis: OwnedServer;
    before(async () => {
      redis = await startRedis();
    });
    after(() => redis.stop());

    it('the control plane still ends within its grace period, instead of retrying Redis for half a minute', async () => {
      const args = ['--redis', redis.url, '--nats', servers().nats.url, '--key-prefix', uniquePrefix(), '--http-port', '0', '--grace', '1000'];
      const plane = await startCliControlPlane(args);
      try {
        await redis.stop();
        plane.child.kill('SIGTERM');
        const code = await within(plane.exited, 20_000);
        assert.notEqual(code, 'still running', `no exit 20 s after SIGTERM:\n${plane.logs()}`);
      } finally {
        plane.child.kill('SIGKILL');
      }
    });
  });

  it("the control plane's log says, with the workload's id, when it started and when it ended, why and with what exit code", async () => {
    const prefix = uniquePrefix();
    const args = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--http-port', '0'];
    const plane = await startCliControlPlane(args);
    try {
      const conn = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix];
      const failed = await runCli(['submit', '--wait', '--id', 'logged-fail', ...conn, '--cmd', 'echo oops >&2; exit 3']);
      assert.equal(failed.code, 3, failed.stderr);
      const entries = () =>
        plane
          .logs()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      await eventually(() => {
        const mine = entries().filter((e) => e.workload === 'logged-fail');
        assert.ok(mine.some((e) => e.msg === 'workload started'), JSON.stringify(mine));
        const ended = mine.find((e) => e.msg === 'workload ended');
        assert.deepEqual([ended?.reason, ended?.exitCode], ['failed', 3], JSON.stringify(mine));
      });
    } finally {
      plane.child.kill('SIGTERM');
      await plane.exited;
    }
  });
});
