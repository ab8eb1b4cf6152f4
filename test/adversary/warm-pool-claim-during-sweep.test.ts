import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { PooledRuntime } from '../../src/pool/pooled-runtime.js';
import { tagOf } from '../../src/pool/warm-pool.js';
import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import { workloadSpecSchema } from '../../src/spec/schema.js';
import { eventually } from '../helpers/eventually.js';
import { MemoryClaims } from '../helpers/memory-claims.js';

/**
 * A runtime whose removal of one member (a gone replica's, say a Pod whose delete is slow) takes
 * as long as the test says, and which lists that member first.
 */
class SlowRemovalRuntime extends InstantRuntime {
  readonly removed: string[] = [];
  slow: string | null = null;
  release: (() => void) | null = null;
  override async list(): Promise<string[]> {
    const ids = await super.list();
    return [...ids.filter((id) => id === this.slow), ...ids.filter((id) => id !== this.slow)];
  }
  override async teardown(id: string): Promise<void> {
    if (id === this.slow) await new Promise<void>((resolve) => (this.release = resolve));
    this.removed.push(id);
    await super.teardown(id);
  }
}

describe('a warm pool member claimed while a sweep is under way', () => {
  it('is not removed by that sweep: the workload that claimed it keeps running in it', async () => {
    const inner = new SlowRemovalRuntime();
    const template = parsePoolOption('trusted:alpine:size=1');
    const runtime = new PooledRuntime(inner, {
      templates: [template],
      claims: new MemoryClaims(),
      replicaId: 'replica-a',
      liveReplicas: async () => ['replica-a'],
      log: silentLogger,
      tickMs: 60_000,
      sweepMs: 20,
    });
    try {
      await runtime.start();
      await eventually(() => assert.equal(runtime.poolStats()[0]!.ready, 1));
      // An idle member of a replica that is gone, which the sweep removes, slowly.
      const stray = `wp-${tagOf('trusted:alpine')}-${tagOf('replica-gone')}-0123456789ab`;
      await inner.provision(stray, workloadSpecSchema.parse({ id: 'stray', type: 'trusted', image: 'alpine' }));
      inner.slow = stray;
      await eventually(() => assert.ok(inner.release, 'the sweep is removing the stray'));

      const id = 'claims-mid-sweep';
      await runtime.provision(id, workloadSpecSchema.parse({ id, type: 'trusted', image: 'alpine' }));
      assert.equal(runtime.poolStats()[0]!.hits, 1, 'it claimed the ready member');
      const [member] = (await inner.list()).filter((m) => m !== stray);
      inner.release!();
      await eventually(() => assert.ok(inner.removed.includes(stray), 'the stray is gone'));
      await new Promise((resolve) => setTimeout(resolve, 100)); // the sweep's loop goes on to the next member
      assert.deepEqual(inner.removed.filter((m) => m === member), [], 'the claimed member was not removed');
      assert.deepEqual(await runtime.status(id), { state: 'running', adoptable: true }, 'the workload still runs');
    } finally {
      await runtime.close();
    }
  });
});
