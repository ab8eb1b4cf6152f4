import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecFailedError, Leasehold } from '../../src/client/index.js';
import { startCliControlPlane } from '../helpers/cli.js';
import { uniquePrefix, useServers } from '../helpers/servers.js';

const servers = useServers();

/**
 * kill -9 of the control plane that runs an exec: it sends nothing more, not even an end. The asker
 * (which only pings, and pings were never answered) waited for ever; it must learn that the exec
 * is gone, without an exit code, as a lost stream.
 */
describe('adversary: the control plane is killed with -9 under a running exec', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-exec-killed-'));
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  let plane: Awaited<ReturnType<typeof startCliControlPlane>>;
  const keyPrefix = uniquePrefix();
  before(async () => {
    plane = await startCliControlPlane(['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', keyPrefix, '--http-port', '0', '--state-dir', stateDir]);
  });
  after(async () => {
    if (plane.child.exitCode === null && plane.child.signalCode === null) plane.child.kill('SIGKILL');
    await plane.exited;
  });

  it('fails the exec as lost output instead of leaving the asker waiting for ever', async () => {
    await using lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix });
    const session = await lh.session({ type: 'trusted', leaseSeconds: 30 });
    const run = session.exec(['sh', '-c', 'echo started; exec sleep 30'], { pingMs: 200 });
    await run.stdout[Symbol.asyncIterator]().next();
    plane.child.kill('SIGKILL');
    await plane.exited;
    const outcome = await Promise.race([
      run.result.then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      ),
      new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), 30_000).unref()),
    ]);
    if (outcome === 'no answer') run.abort();
    assert.ok(outcome !== 'no answer' && 'error' in outcome && outcome.error instanceof ExecFailedError && outcome.error.code === 'LOST_OUTPUT', `the asker learns the exec is lost (got ${String(outcome === 'no answer' ? outcome : JSON.stringify(outcome))})`);
    // What the killed control plane left (the session's keeper, the exec's sleep) the next start stops.
    const next = await startCliControlPlane(['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', keyPrefix, '--http-port', '0', '--state-dir', stateDir]);
    try {
      await lh.wait(session.id, { timeoutMs: 30_000 });
    } finally {
      next.child.kill('SIGTERM');
      await next.exited;
    }
  });
});
