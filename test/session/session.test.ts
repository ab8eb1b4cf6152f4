import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Leasehold, SessionEndedError } from '../../src/client/index.js';
import { runCli } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { redisClient, useServers, uniqueId } from '../helpers/servers.js';
import { TransitionRecorder } from '../helpers/transitions.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';
import { text } from '../helpers/streams.js';
import { RUNTIME_FLAVOURS } from '../helpers/runtime-flavours.js';

const servers = useServers();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const flavour of RUNTIME_FLAVOURS) {
  describe(`a session in ${flavour.one} (real Redis and NATS)`, { skip: flavour.skip }, () => {
    let redis: Redis;
    let recorder: TransitionRecorder;
    let kube: KubeHarness | null = null;
    let tp: TestPlane;
    let lh: Leasehold;

    before(async () => {
      redis = redisClient(servers().redis.url);
      recorder = await TransitionRecorder.start(servers().nats.url);
      if (flavour.kube) kube = await startKube();
      tp = await startTestPlane(servers(), flavour.config(kube));
      lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    });
    after(async () => {
      await lh.close();
      await tp.stop();
      await kube?.stop();
      await recorder.close();
      await redis.quit();
    });
    const push = (payload: Record<string, unknown>) => redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify(payload));
    const running = (id: string) => recorder.until(() => recorder.of(id).some((m) => m.to === 'running'), 20_000, `${id} running`);

    it('submitted without cmd, runs, takes several execs (streamed output, exit codes, files kept between them), lives on heartbeats over NATS, and ends cancelled, not failed', async () => {
      const id = uniqueId('s');
      await push({ id, type: flavour.type, image: 'alpine', leaseSeconds: 2 });
      await running(id);

      const first = lh.exec(id, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
      const [out, err, result] = await Promise.all([text(first.stdout), text(first.stderr), first.result]);
      assert.deepEqual({ out, err, result }, { out: 'out\n', err: 'err\n', result: { exitCode: 3 } });
      assert.deepEqual(await lh.exec(id, ['sh', '-c', 'echo kept > note.txt']).result, { exitCode: 0 });
      const read = lh.exec(id, ['cat', 'note.txt']);
      assert.equal(await text(read.stdout), 'kept\n', 'a file written by one exec is read by the next: one sandbox, not one per exec');
      assert.deepEqual(await read.result, { exitCode: 0 });

      // Three leases long, with nothing but heartbeats over NATS: it stays running.
      for (let i = 0; i < 12; i++) {
        await lh.heartbeat(id);
        await sleep(500);
      }
      assert.deepEqual(recorder.of(id).map((m) => m.to), ['queued', 'provisioning', 'running'], 'heartbeats kept it running');
      assert.equal((await lh.status(id))?.state, 'running');

      await lh.cancel(id);
      await recorder.untilEnded([id]);
      const end = recorder.ended(id)!;
      assert.equal(end.reason, 'cancelled', "the keeper's exit on SIGTERM is not the session's failure");
      assert.equal(end.error, undefined);
    });

    it('without heartbeats, its lease lapses: expiring with reason leaseExpired', async () => {
      const id = uniqueId('lapse');
      await push({ id, type: flavour.type, image: 'alpine', leaseSeconds: 1 });
      await running(id);
      await recorder.untilEnded([id], 20_000);
      const expiring = recorder.of(id).find((m) => m.to === 'expiring');
      assert.equal(expiring?.reason, 'leaseExpired');
      await assert.rejects(lh.heartbeat(id), (error: unknown) => error instanceof SessionEndedError || (error as Error).name === 'WorkloadNotFoundError');
    });

    it("the client's session() runs until its `await using` scope ends, then is cancelled", async () => {
      let id = '';
      {
        await using session = await lh.session({ type: flavour.type, leaseSeconds: 1 });
        id = session.id;
        assert.equal((await lh.status(id))?.state, 'running');
        // Past two leases of 1 s: the handle's own heartbeats keep it.
        await sleep(2_500);
        const run = session.exec(['sh', '-c', 'echo "$LEASEHOLD_WORKLOAD_ID"']);
        assert.equal(await text(run.stdout), `${id}\n`);
        assert.equal(recorder.ended(id), undefined, 'alive while the handle is open');
      }
      await recorder.untilEnded([id]);
      assert.equal(recorder.ended(id)!.reason, 'cancelled');
    });
  });
}

describe('sessions at intake, on NATS and from the CLI (process runtime)', () => {
  let redis: Redis;
  let recorder: TransitionRecorder;
  let tp: TestPlane;
  let lh: Leasehold;
  const opened: string[] = [];

  before(async () => {
    redis = redisClient(servers().redis.url);
    recorder = await TransitionRecorder.start(servers().nats.url);
    tp = await startTestPlane(servers());
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
  });
  afterEach(async () => {
    for (const id of opened.splice(0)) await lh.cancel(id).catch(() => undefined);
  });
  after(async () => {
    await lh.close();
    await tp.stop();
    await recorder.close();
    await redis.quit();
  });

  it('dead-letters mode session with a cmd, with the reason, and runs nothing', async () => {
    const id = uniqueId('both');
    await redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify({ id, type: 'trusted', image: 'alpine', mode: 'session', cmd: ['sh', '-c', 'touch /tmp/never'] }));
    let letters: string[] = [];
    for (let i = 0; i < 100 && letters.length === 0; i++) {
      letters = (await redis.lrange(tp.plane.keys.dead, 0, -1)).filter((line) => line.includes(id));
      if (letters.length === 0) await sleep(100);
    }
    assert.equal(letters.length, 1, 'one dead letter');
    assert.match(letters[0]!, /cmd: must be absent in a session: a session runs nothing of its own/);
    assert.deepEqual(recorder.of(id), [], 'nothing was started');
  });

  it('answers a heartbeat for an unknown workload, and one that is not running, with why', async () => {
    await assert.rejects(lh.heartbeat('no-such-session'), { name: 'WorkloadNotFoundError' });
    const id = uniqueId('done');
    await redis.lpush(`${tp.config.keyPrefix}workload_queue`, JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['true'] }));
    await recorder.untilEnded([id]);
    await assert.rejects(lh.heartbeat(id), (error: unknown) => error instanceof SessionEndedError && /not running/.test(error.message) && error.state === 'tornDown');
  });

  it('`leasehold session --detach` prints an id that `leasehold exec` reaches', async () => {
    const connection = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', tp.config.keyPrefix];
    const opening = await runCli(['session', '--detach', '--type', 'trusted', '--lease', '30', ...connection]);
    assert.equal(opening.code, 0, opening.stderr);
    const id = opening.stdout.trim();
    opened.push(id);
    assert.match(id, /^session-[0-9a-f]{10}$/);
    assert.match(opening.stderr, new RegExp(`leasehold exec ${id} -- `));
    const exec = await runCli(['exec', id, '--nats', servers().nats.url, '--', 'sh', '-c', 'echo "in $LEASEHOLD_WORKLOAD_ID"; exit 7']);
    assert.equal(exec.stdout, `in ${id}\n`);
    assert.equal(exec.code, 7);
  });
});
