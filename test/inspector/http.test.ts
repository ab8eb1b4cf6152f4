import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InspectorModel } from '../../src/inspector/model.js';
import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import { startTestPlane } from '../helpers/control-plane.js';
import { generatedToken, getJson } from '../helpers/http-api.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();

describe('observability over HTTP', () => {
  it('serves /livez, /readyz and Prometheus /metrics that follow what happened', async () => {
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const tp = await startTestPlane(servers());
    const base = `http://127.0.0.1:${tp.plane.httpPort}`;
    try {
      assert.equal((await fetch(`${base}/livez`)).status, 200);
      assert.deepEqual(await (await fetch(`${base}/readyz`)).json(), { ready: true, checks: { redis: true, nats: true, intake: true } });
      await redis.lpush(tp.plane.keys.queue, 'not json', JSON.stringify({ id: 'm-1', type: 'trusted', image: 'alpine', cmd: ['true'] }));
      await recorder.untilEnded(['m-1']);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /^leasehold_transitions_total\{from="running",to="expiring"\} 1$/m);
      assert.match(metrics, /^leasehold_workloads\{state="running",type="trusted"\} 0$/m);
      assert.match(metrics, /^leasehold_dead_letters_total\{reason="invalidJson"\} 1$/m);
      assert.match(metrics, /^leasehold_submit_to_running_seconds_count\{type="trusted"\} 1$/m);
      assert.match(metrics, /^leasehold_queue_depth 0$/m);
      assert.match(metrics, /^leasehold_workloads_ended_total\{type="trusted",reason="completed"\} 1$/m, 'ended workloads are counted by why');
      assert.doesNotMatch(metrics, /^leasehold_workloads\{state="tornDown"/m, 'no gauge that is always 0');
      assert.match(metrics, /^# TYPE leasehold_runtime_events_total counter$/m);
      assert.match(metrics, /^leasehold_nats_connected 1$/m);
    } finally {
      await tp.stop();
      await recorder.close();
      await redis.quit();
    }
  });

  it('pages and filters 10,000 workloads on the server', async () => {
    const instant = new InstantRuntime();
    const redis = redisClient(servers().redis.url);
    const tp = await startTestPlane(
      servers(),
      { maxConcurrent: { trusted: 100_000, untrusted: 100_000 }, intakeBatch: 1000 },
      { runtimes: { trusted: instant, untrusted: instant } },
    );
    const base = `http://127.0.0.1:${tp.plane.httpPort}`;
    const token = generatedToken(tp.plane);
    try {
      const payloads = Array.from({ length: 10_000 }, (_, i) =>
        JSON.stringify({ id: `many-${i}`, type: 'trusted', image: 'alpine', cmd: i % 10 === 0 ? ['sleep', 'infinity'] : ['true'] }),
      );
      for (let i = 0; i < payloads.length; i += 1000) await redis.lpush(tp.plane.keys.queue, ...payloads.slice(i, i + 1000));
      for (let i = 0; ; i++) {
        const summary = await getJson<{ states: Record<string, { total: number }> }>(`${base}/api/summary`, token);
        if (summary.states.running!.total === 1000 && summary.states.tornDown!.total === 9000) break;
        assert.ok(i < 300, `not settled: ${JSON.stringify(summary.states)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const page = await getJson<{ total: number; items: { id: string; state: string }[] }>(`${base}/api/workloads?state=running&limit=50&offset=100`, token);
      assert.equal(page.total, 1000);
      assert.equal(page.items.length, 50);
      assert.ok(page.items.every((w) => w.state === 'running'));
      const search = await getJson<{ total: number; items: { id: string }[] }>(`${base}/api/workloads?q=many-999`, token);
      assert.deepEqual(search.items.map((w) => w.id).sort(), ['many-999', 'many-9990', 'many-9991', 'many-9992', 'many-9993', 'many-9994', 'many-9995', 'many-9996', 'many-9997', 'many-9998', 'many-9999']);
    } finally {
      await tp.stop();
      await redis.quit();
    }
  });

  it('keeps its counts right when the same transition arrives twice', () => {
    const model = new InspectorModel();
    const at = new Date().toISOString();
    const message = { id: 'dup', type: 'trusted' as const, from: null, to: 'queued' as const, event: 'workload.submitted', at, seq: 1 };
    model.apply(message);
    model.apply(message);
    assert.equal(model.summary().queued.total, 1);
  });
});
