import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Leasehold } from '../../src/client/index.js';
import { startNats, startRedis, type OwnedServer } from '../../src/dev/servers.js';
import { startTestPlane } from '../helpers/control-plane.js';

/**
 * The exec protocol has no acknowledgement: the asker pings, the control plane streams. When the
 * NATS server dies mid-exec, what was in flight is lost, and if the command ends while the server
 * is down its `exit` answer may be among it. The asker must not wait for ever for an answer that
 * will never come: it must end, with the output (a gap, or the end) or a clear error.
 */
describe('adversary: the NATS server restarts while an exec runs', () => {
  it('settles the exec (an exit, or an error) instead of waiting for ever', { timeout: 120_000 }, async () => {
    const natsDir = mkdtempSync(join(tmpdir(), 'leasehold-exec-restart-'));
    const redis = await startRedis();
    let nats: OwnedServer = await startNats({ dir: natsDir });
    const tp = await startTestPlane({ redis, nats });
    const lh = await Leasehold.connect({ redis: redis.url, nats: nats.url, keyPrefix: tp.config.keyPrefix });
    try {
      const session = await lh.session({ type: 'trusted', leaseSeconds: 60 });
      const run = session.exec(['sh', '-c', 'echo started; sleep 1; echo done']);
      const first = await run.stdout[Symbol.asyncIterator]().next();
      assert.equal(Buffer.from(first.value as Uint8Array).toString(), 'started\n');
      // Down for longer than the command has left: its end happens while no server is there.
      nats.process.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 500));
      await nats.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      nats = await startNats({ port: nats.port, dir: natsDir });
      const outcome = await Promise.race([
        run.result.then(
          (result) => ({ result }),
          (error: unknown) => ({ error: (error as Error).name }),
        ),
        new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), 60_000).unref()),
      ]);
      if (outcome === 'no answer') run.abort();
      assert.notEqual(outcome, 'no answer', 'the exec settled after the restart');
    } finally {
      await lh.close();
      await tp.stop();
      await Promise.all([redis.stop(), nats.stop()]);
      rmSync(natsDir, { recursive: true, force: true });
    }
  });
});
