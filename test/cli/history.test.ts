import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { startNats } from '../../src/dev/servers.js';
import { runCli, startCliInspector } from '../helpers/cli.js';
import { getJson } from '../helpers/http-api.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { redisClient, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();
const workload = (id: string, cmd: string[]) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd });

describe('transition history (--history): watchers and inspectors that start late', () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  let tp: TestPlane;
  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
    tp = await startTestPlane(servers(), { historySeconds: 600 });
    await redis.lpush(tp.plane.keys.queue, workload('early-1', ['true']), workload('early-2', ['sh', '-c', 'exit 2']));
    await recorder.untilEnded(['early-1', 'early-2']);
  });
  after(async () => {
    await tp.stop();
    await recorder.close();
    await redis.quit();
  });

  it('watch <id> --replay prints a finished workload\'s whole lifecycle, then exits', async () => {
    const result = await runCli(['watch', 'early-2', '--replay', '-o', 'json', '--nats', servers().nats.url]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { to: string; seq: number; exitCode?: number });
    assert.deepEqual(lines.map((t) => [t.to, t.seq]), [
      ['queued', 1],
      ['provisioning', 2],
      ['running', 3],
      ['expiring', 4],
      ['tornDown', 5],
    ]);
    assert.equal(lines.at(-1)!.exitCode, 2);
  });

  it('inspect --replay shows workloads that ended before it started', async () => {
    const { url, token, stop } = await startCliInspector(['--replay', '--nats', servers().nats.url]);
    try {
      const one = await getJson<{ state: string; timeline: { to: string }[] }>(`${url}/api/workloads/early-1`, token!);
      assert.equal(one.state, 'tornDown');
      assert.deepEqual(one.timeline.map((t) => t.to), ['queued', 'provisioning', 'running', 'expiring', 'tornDown']);
      const summary = await getJson<{ states: Record<string, { trusted: number }> }>(`${url}/api/summary`, token!);
      assert.equal(summary.states.tornDown!.trusted, 2);
    } finally {
      await stop();
    }
  });

  it('says how to turn history on when a NATS server keeps none', async () => {
    const bare = await startNats();
    try {
      const result = await runCli(['watch', 'x', '--replay', '--nats', bare.url]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /no transition history on this NATS: start the control plane with --history <seconds>/);
    } finally {
      await bare.stop();
    }
  });
});
