import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { startCliInspector } from '../helpers/cli.js';
import { getJson } from '../helpers/http-api.js';
import { useServers } from '../helpers/servers.js';

const servers = useServers();

describe('leasehold inspect', () => {
  it('builds the same view from NATS alone', async () => {
    const { url, token, stop } = await startCliInspector(['--nats', servers().nats.url]);
    try {
      assert.ok(token, 'with no tokens file, the link carries a generated token');
      const nc = await connect({ servers: servers().nats.url });
      const at = new Date().toISOString();
      for (const [seq, from, to] of [[1, null, 'queued'], [2, 'queued', 'provisioning'], [3, 'provisioning', 'running']] as const) {
        nc.publish(`workloads.remote-1.${to}`, JSON.stringify({ id: 'remote-1', type: 'untrusted', from, to, event: 'x', at, seq }));
      }
      await nc.flush();
      await nc.close();
      for (let i = 0; ; i++) {
        const summary = await getJson<{ connected: boolean; states: Record<string, { untrusted: number }> }>(`${url}/api/summary`, token!);
        if (summary.states.running!.untrusted === 1) {
          assert.equal(summary.connected, true);
          assert.equal(summary.states.queued!.untrusted, 0);
          break;
        }
        assert.ok(i < 100, 'the inspector never saw remote-1 running');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const page = await fetch(`${url}/`);
      assert.match(await page.text(), /<title>Leasehold inspector<\/title>/);
      const one = await getJson<{ state: string; timeline: unknown[] }>(`${url}/api/workloads/remote-1`, token!);
      assert.equal(one.state, 'running');
      assert.equal(one.timeline.length, 3);
      const timeline = await getJson<{ to: string; spentMs: number | null }[]>(`${url}/api/workloads/remote-1/timeline`, token!);
      assert.deepEqual(timeline.map((t) => t.to), ['queued', 'provisioning', 'running']);
      assert.equal(timeline.at(-1)!.spentMs, null, 'still in its last state');
    } finally {
      await stop();
    }
  });
});
