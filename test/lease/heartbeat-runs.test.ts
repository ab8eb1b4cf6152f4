import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { ProvisionResult } from '../../machines/index.js';
import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import { HEARTBEAT_ENV, type ProvisionContext } from '../../src/runtime/runtime.js';
import type { WorkloadSpec } from '../../src/spec/index.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';

const servers = useServers();

/** A self-heartbeating workload that prints its token and then sleeps (or ends at once). */
const selfBeating = (id: string, sleepSeconds: number) =>
  JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: `echo "token=$LEASEHOLD_HEARTBEAT_TOKEN"; sleep ${sleepSeconds}`, heartbeat: 'self', leaseSeconds: 30 });

class TokenKeepingRuntime extends InstantRuntime {
  readonly tokens = new Map<string, string>();

  override async provision(id: string, spec: WorkloadSpec, context?: ProvisionContext): Promise<ProvisionResult> {
    const token = context?.env?.[HEARTBEAT_ENV.token];
    if (token) this.tokens.set(id, token);
    return super.provision(id, spec);
  }
}

describe('heartbeat tokens are bound to one run of a workload', () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  const planes: TestPlane[] = [];
  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
  });
  after(async () => {
    for (const plane of planes) await plane.stop().catch(() => undefined);
    await recorder.close();
    await redis.quit();
  });

  async function tokenOf(plane: TestPlane, id: string): Promise<string> {
    for (let tries = 0; tries < 200; tries++) {
      const match = /^token=(\S+)$/m.exec((await plane.plane.supervisor.logs(id)) ?? '');
      if (match) return match[1]!;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`${id} never printed its token`);
  }

  const beat = (plane: TestPlane, id: string, token: string) =>
    fetch(`http://127.0.0.1:${plane.plane.httpPort}/v1/workloads/${id}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).then(
      (response) => response.status,
    );

  const runsOf = (id: string) => recorder.of(id).filter((m) => m.to === 'running').length;

  it("refuses a past run's token once the id is submitted again, and takes the new run's", async () => {
    const plane = await startTestPlane(servers(), { retentionSeconds: 1 });
    planes.push(plane);
    const { keys } = plane.plane;
    await redis.lpush(keys.queue, selfBeating('again', 0));
    await recorder.untilEnded(['again']);
    assert.equal(recorder.ended('again')!.reason, 'completed');
    const oldToken = await tokenOf(plane, 'again');
    // The record expires after its retention; then the id is free to be submitted again.
    for (let tries = 0; (await redis.exists(keys.workload('again'))) === 1; tries++) {
      assert.ok(tries < 200, 'the finished record expires');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await redis.lpush(keys.queue, selfBeating('again', 30));
    await recorder.until(() => runsOf('again') === 2, 10_000, 'the second run running');
    const newToken = await tokenOf(plane, 'again');

    assert.notEqual(newToken, oldToken);
    assert.equal(await beat(plane, 'again', oldToken), 401, "the first run's token does not renew the second run");
    assert.equal(await beat(plane, 'again', newToken), 204);
    await plane.plane.supervisor.cancel('again');
    await recorder.untilEnded(['again']);
  });

  it('still takes the tokens it handed out after the control plane restarts', async () => {
    // The process runtime cannot re-adopt its children across an in-process restart; this one
    // can, and keeps the token each workload was handed.
    const runtime = new TokenKeepingRuntime();
    const keyPrefix = uniquePrefix();
    const first = await startTestPlane(servers(), { keyPrefix }, { runtimes: { trusted: runtime, untrusted: null } });
    planes.push(first);
    await redis.lpush(first.plane.keys.queue, selfBeating('survivor', 30));
    await recorder.until(() => runsOf('survivor') === 1, 10_000, 'survivor running');
    const token = runtime.tokens.get('survivor')!;
    assert.equal(await beat(first, 'survivor', token), 204);
    await first.stop();
    planes.pop();

    const second = await startTestPlane(servers(), { keyPrefix }, { runtimes: { trusted: runtime, untrusted: null } });
    planes.push(second);
    assert.equal((await second.plane.supervisor.status('survivor'))?.state, 'running', 'adopted after the restart');
    assert.equal(await beat(second, 'survivor', token), 204, 'the run nonce was restored from its record');
    assert.equal(await beat(second, 'survivor', `${token.split('.')[0]}.forged`), 401);
    await second.plane.supervisor.cancel('survivor');
    await recorder.untilEnded(['survivor']);
  });
});
