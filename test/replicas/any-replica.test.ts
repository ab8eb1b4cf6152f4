import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { chainViolations } from '../helpers/transition-chains.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { ReplicaSet } from './replica-set.js';

const servers = useServers();
const LEASE_SECONDS = 2;
/** Prints its heartbeat token, then waits to be cancelled; renewed only by heartbeats from outside. */
const selfBeating = (id: string) =>
  JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: `echo "token=$LEASEHOLD_HEARTBEAT_TOKEN"; exec sleep 60`, heartbeat: 'self', leaseSeconds: LEASE_SECONDS });

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/**
 * Behind a Service, a heartbeat or a control request reaches any replica, not the workload's
 * owner. Each must be answered as the owner would.
 */
describe('three replicas behind one address: heartbeats, status, logs and cancel reach the owner', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'leasehold-any-replica-'));
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  it('renews leases from heartbeats sent to random replicas, expires the silent ones, and answers logs, status and cancel from any replica', async () => {
    const prefix = uniquePrefix();
    const set = new ReplicaSet(
      ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', prefix, '--state-dir', stateDir, '--http-port', '0', '--grace', '500'],
      prefix,
    );
    const redis = redisClient(servers().redis.url);
    const recorder = await TransitionRecorder.start(servers().nats.url);
    const nc = await connect({ servers: servers().nats.url });
    try {
      await Promise.all(['h1', 'h2', 'h3'].map((id) => set.start(id)));
      await set.untilBalanced(redis);
      const ports = [...set.replicas.values()].map((replica) => httpPortOf(replica.logs()));
      const beaten = Array.from({ length: 9 }, (_, i) => `beaten-${i}`);
      const silent = Array.from({ length: 9 }, (_, i) => `silent-${i}`);
      await redis.lpush(set.keys.queue, ...[...beaten, ...silent].map(selfBeating));
      await recorder.until(() => [...beaten, ...silent].every((id) => recorder.of(id).some((m) => m.to === 'running')), 20_000, 'all running');

      // logs, asked of whichever replica the queue group picks, come from the owner's process.
      const request = async (kind: string, id: string) =>
        JSON.parse(new TextDecoder().decode((await nc.request(`leasehold.${kind}.${id}`, '', { timeout: 5_000 })).data)) as Record<string, unknown>;
      const tokens = new Map<string, string>();
      for (const id of beaten) {
        const reply = await request('logs', id);
        const token = /^token=(\S+)$/m.exec(String(reply.logs ?? ''))?.[1];
        assert.ok(token, `${id}: logs through any replica hold the workload's output (${JSON.stringify(reply)})`);
        tokens.set(id, token);
      }

      // Beat for four lease periods, each beat to a random replica's HTTP endpoint.
      const until = Date.now() + 4 * LEASE_SECONDS * 1000;
      while (Date.now() < until) {
        const statuses = await Promise.all(
          beaten.map((id) =>
            fetch(`http://127.0.0.1:${pick(ports)}/v1/workloads/${id}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${tokens.get(id)}` } }).then((r) => r.status),
          ),
        );
        assert.deepEqual(statuses, beaten.map(() => 204), 'every replica renews any workload’s lease');
        await new Promise((resolve) => setTimeout(resolve, 400));
      }

      await recorder.untilEnded(silent, 10_000);
      for (const id of silent) {
        const ended = recorder.ended(id)!;
        assert.equal(ended.reason, 'leaseExpired', id);
        const running = recorder.of(id).find((m) => m.to === 'running')!;
        assert.ok(Date.parse(ended.at) - Date.parse(running.at) >= LEASE_SECONDS * 1000, `${id} was not torn down before its lease ran out`);
      }
      assert.deepEqual(beaten.filter((id) => recorder.ended(id)), [], 'no workload that heartbeats through another replica lost its lease');

      for (const id of beaten) {
        const status = await request('status', id);
        assert.equal(status.state, 'running', `${id}: status through any replica`);
      }
      for (const id of beaten) assert.deepEqual(await request('cancel', id), { ok: true, state: 'running' }, `${id}: cancel through any replica`);
      await recorder.untilEnded(beaten, 10_000);
      for (const id of beaten) assert.equal(recorder.ended(id)!.reason, 'cancelled', id);
      assert.deepEqual(chainViolations(recorder.messages, [...beaten, ...silent]), []);
    } finally {
      await nc.close();
      await set.stopAll();
      await recorder.close();
      await redis.quit();
    }
  });
});

function httpPortOf(logs: string): number {
  const port = /"http":(\d+)/.exec(logs)?.[1];
  if (!port) throw new Error(`no HTTP port in the logs:\n${logs}`);
  return Number(port);
}
