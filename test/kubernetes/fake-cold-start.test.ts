import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { drawStartMs, FakeKubeApiServer } from './fake-api-server.js';

// The start benchmark measures warm pools against this fake's cold start: a range that silently
// collapsed to one figure (or to setTimeout's 1 ms) would make the pool's effect look like anything.
describe("the fake API server's simulated cold start", () => {
  it('draws each start uniformly between min and max, and keeps a fixed figure as given', () => {
    const range = { min: 1_000, max: 3_000 };
    assert.deepEqual(
      [0, 0.25, 0.5, 0.999_999].map((r) => drawStartMs(range, () => r)),
      [1_000, 1_500, 2_000, 3_000],
    );
    assert.equal(drawStartMs(30, () => 0.9), 30, 'the default (one figure for every Pod) is not drawn at all');
  });

  it('gives every Pod its own start from the range, and each Pod the same one when the figure is fixed', async () => {
    const starts = async (startMs: ConstructorParameters<typeof FakeKubeApiServer>[0]) => {
      // Not started: seeding a Pod runs the kubelet without the HTTP side.
      const api = new FakeKubeApiServer(startMs);
      try {
        for (let i = 0; i < 20; i++) {
          api.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p-${i}`, namespace: 'jobs' }, spec: { containers: [{ name: 'c', image: 'alpine', command: ['sleep', '3600'] }] } });
        }
        return [...api.startDelays.values()];
      } finally {
        await api.stop();
      }
    };
    const drawn = await starts({ startMs: { min: 1_000, max: 3_000 } });
    assert.equal(drawn.length, 20);
    assert.ok(drawn.every((ms) => ms >= 1_000 && ms <= 3_000), `every start within 1–3 s: ${drawn.join(', ')}`);
    assert.ok(new Set(drawn).size > 1, `twenty Pods did not all draw the same start: ${drawn.join(', ')}`);
    assert.deepEqual(new Set(await starts({})), new Set([30]), "the default stays the fixed 30 ms the other tests rely on");
  });

  it('refuses a range it cannot draw from, at construction rather than as Pods that start at once', () => {
    for (const startMs of [{ min: 3_000, max: 1_000 }, { min: -1, max: 10 }, { min: 0, max: Number.NaN }, -5]) {
      assert.throws(() => new FakeKubeApiServer({ startMs }), /startMs/, JSON.stringify(startMs));
    }
  });
});
