import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { parsePoolOption } from '../../src/pool/pool-template.js';
import { PooledRuntime } from '../../src/pool/pooled-runtime.js';
import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import { workloadSpecSchema } from '../../src/spec/schema.js';
import { eventually } from '../helpers/eventually.js';
import { MemoryClaims } from '../helpers/memory-claims.js';

/**
 * The hit rate is what an operator sizes pools by. A run that claimed a member whose runtime could
 * not start its command in it (no exec there, as on Firecracker today, or a member that died idle)
 * starts cold: it is a miss, and counting it a hit shows a pool that works when none does.
 */
describe("a warm pool's hit rate", () => {
  it('counts a claimed run that had to start cold as a miss, and its member as no longer in use', async () => {
    // The instant runtime has no exec; made local (not adoptable), as the runtimes where runs claim are.
    const inner = new (class extends InstantRuntime {
      override readonly adoptable = false;
    })();
    const runtime = new PooledRuntime(inner, {
      templates: [parsePoolOption('trusted:alpine:size=1')],
      claims: new MemoryClaims(),
      replicaId: 'replica-a',
      liveReplicas: async () => ['replica-a'],
      log: silentLogger,
    });
    try {
      await runtime.start();
      await eventually(() => assert.equal(runtime.poolStats()[0]!.ready, 1));
      const id = 'fell-back';
      assert.deepEqual(await runtime.provision(id, workloadSpecSchema.parse({ id, type: 'trusted', image: 'alpine', cmd: ['sleep', '60'] })), { state: 'running' });
      assert.equal((await inner.status(id)).state, 'running', 'it started cold, under its own id');
      const { hits, misses, inUse } = runtime.poolStats()[0]!;
      assert.deepEqual({ hits, misses, inUse }, { hits: 0, misses: 1, inUse: 0 });
    } finally {
      await runtime.close();
    }
  });
});
