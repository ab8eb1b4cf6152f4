import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKube, type KubeHarness } from './kube-harness.js';

// Its own file, because it mostly waits: the runner overlaps it with other files.
describe('a quiet namespace', () => {
  let kube: KubeHarness;
  before(async () => {
    // A real API server bookmarks a watch about once a minute; this one not at all while we wait.
    kube = await startKube({ bookmarkMs: 120_000 });
  });
  after(() => kube.stop());

  it("keeps its one watch open past client-node's 30 s inactivity timer, with no error logged or counted", async () => {
    const runtime = await kube.startedRuntime();
    await sleep(33_000);
    assert.deepEqual(
      { ...runtime.stats(), open: kube.api.openWatches() },
      { lists: 1, watches: 1, relistsAfterGone: 0, stalls: 0, errors: 0, open: 1 },
      'a watch that hears nothing is healthy until stallMs (120 s) says otherwise',
    );
  });
});
