import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import { dialNats } from '../../src/events/nats-connect.js';
import { parseTransition } from '../../src/events/messages.js';
import { HISTORY_STREAM, replayTransitions } from '../../src/events/transition-history.js';
import type { TransitionMessage } from '../../src/events/transition.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, type Servers } from '../helpers/servers.js';
import { runCliWithin, secret, startShippedServers } from './nats-fixtures.js';

/** The NATS configuration shipped in manifests/, run as is: these tests protect what users deploy. */

const passwords = {
  controlPlane: secret('control-plane'),
  operator: secret('operator'),
  watcher: secret('watcher'),
};
const identities = {
  operator: { user: 'leasehold-operator', password: passwords.operator },
  watcher: { user: 'leasehold-watcher', password: passwords.watcher },
};
type Identity = keyof typeof identities;
const envOf = (who: Identity) => ({ NATS_USER: identities[who].user, NATS_PASSWORD: identities[who].password });

/** A raw client with that identity, and every permission violation the server reports to it. */
async function client(servers: Servers, who: Identity): Promise<{ nc: NatsConnection; refused: PermissionViolationError[] }> {
  const nc = await dialNats({ url: servers.nats.url, auth: identities[who] }, { name: `test-${who}`, reconnect: false });
  const refused: PermissionViolationError[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error' && status.error instanceof PermissionViolationError) refused.push(status.error);
    }
  })();
  return { nc, refused };
}

const sleeper = (id: string) => JSON.stringify({ id, type: 'trusted', image: 'alpine', cmd: ['sleep', '30'] });

describe('NATS subject permissions (manifests/nats.conf): only the control plane steers, answers and publishes', () => {
  let servers: Servers;
  let tp: TestPlane;
  let redis: Redis;
  const state = (id: string) => redis.hget(tp.plane.keys.workload(id), 'state');
  const cli = (who: Identity, ...args: string[]) => runCliWithin(30_000, [...args, '--nats', servers.nats.url], envOf(who));

  before(async () => {
    servers = await startShippedServers(passwords);
    tp = await startTestPlane(servers, {
      natsAuth: { user: 'leasehold-control-plane', password: passwords.controlPlane },
      historySeconds: 600,
      teardownGraceMs: 200,
    });
    redis = redisClient(servers.redis.url);
  });
  after(async () => {
    await tp.stop();
    await redis.quit();
    await Promise.all([servers.redis.stop(), servers.nats.stop()]);
  });

  it('a watcher cannot cancel a workload: the workload keeps running and the CLI says NATS refused it', async () => {
    await redis.lpush(tp.plane.keys.queue, sleeper('victim'));
    await eventually(async () => assert.equal(await state('victim'), 'running'), 15_000);

    // The attack as found: a client that hears of each workload cancels it, a hundred times over.
    const rogue = await client(servers, 'watcher');
    try {
      for (let i = 0; i < 100; i++) rogue.nc.publish('leasehold.cancel.victim');
      await rogue.nc.flush();
      await eventually(() => assert.ok(rogue.refused.some((e) => e.operation === 'publish' && e.subject === 'leasehold.cancel.victim')));
    } finally {
      await rogue.nc.close();
    }

    const refused = await cli('watcher', 'cancel', 'victim');
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.split('\n').filter(Boolean).length, 1, refused.stderr);
    assert.match(refused.stderr, /^leasehold: NATS refused this identity permission to publish on leasehold\.cancel\.victim: cancel victim is not allowed/);
    assert.equal(await state('victim'), 'running', 'the workload was not cancelled');

    // The operator may: the same request from it ends the workload (so the check above could fail).
    const allowed = await cli('operator', 'cancel', 'victim');
    assert.equal(allowed.code, 0, allowed.stderr);
    await eventually(async () => assert.equal(await state('victim'), 'tornDown'), 15_000);
    assert.equal((await tp.plane.supervisor.status('victim'))?.reason, 'cancelled');
  });

  it('a watcher cannot cancel a workload or purge the history through the reply subject of a request', async () => {
    await redis.lpush(tp.plane.keys.queue, sleeper('deputy-victim'));
    await eventually(async () => assert.equal(await state('deputy-victim'), 'running'), 15_000);
    const watcher = await client(servers, 'watcher');
    const historyOf = async (subject: string) => {
      const kept: TransitionMessage[] = [];
      await replayTransitions(watcher.nc, subject, (t) => kept.push(t));
      return kept;
    };
    const forgedOnBus: string[] = [];
    watcher.nc.subscribe('workloads.deputy-victim.>', {
      callback: (error, msg) => {
        if (!error) forgedOnBus.push(msg.subject);
      },
    });
    try {
      assert.ok((await historyOf('workloads.deputy-victim.>')).length >= 3, 'the history holds the victim before the attack');
      // The attack as found: the watcher may ask, and asks with a reply subject it may not
      // publish on itself, hoping the control plane publishes the answer there for it.
      const deputies: [string, string][] = [
        ['leasehold.status.deputy-victim', 'leasehold.cancel.deputy-victim'],
        ['leasehold.logs.nosuch', '$JS.API.STREAM.PURGE.LEASEHOLD_TRANSITIONS'],
        ['leasehold.status.nosuch', '$JS.API.STREAM.DELETE.LEASEHOLD_TRANSITIONS'],
        ['leasehold.status.deputy-victim', 'workloads.deputy-victim.tornDown'],
      ];
      for (const [subject, reply] of deputies) watcher.nc.publish(subject, '', { reply });
      await watcher.nc.flush();
      // The same identity's honest request is answered, so the control plane heard the others.
      const status = await cli('watcher', 'status', 'deputy-victim', '-o', 'json');
      assert.equal(status.code, 0, status.stderr);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // room for a cancel that should not come

      assert.equal(await state('deputy-victim'), 'running', 'the workload was not cancelled');
      assert.equal((await tp.plane.supervisor.status('deputy-victim'))?.state, 'running');
      const info = await (await jetstreamManager(watcher.nc)).streams.info(HISTORY_STREAM);
      assert.ok(info.state.messages > 0, 'the history stream was not purged');
      assert.ok((await historyOf('workloads.deputy-victim.>')).length >= 3, 'the victim\'s history is still there');
      assert.deepEqual(forgedOnBus, [], 'nothing was published on the victim\'s transition subjects');
    } finally {
      await watcher.nc.close();
      await cli('operator', 'cancel', 'deputy-victim');
    }
  });

  it('a rogue client cannot answer status requests in the control plane\'s place: the CLI gets the real answer', async () => {
    await redis.lpush(tp.plane.keys.queue, sleeper('honest'));
    await eventually(async () => assert.equal(await state('honest'), 'running'), 15_000);

    // The most trusted identity short of the control plane tries every way to hear the requests.
    const rogue = await client(servers, 'operator');
    const forged = JSON.stringify({ id: 'honest', type: 'trusted', state: 'tornDown', seq: 99, reason: 'completed', timings: {} });
    let heard = 0;
    for (const subject of ['leasehold.status.*', 'leasehold.>', '>']) {
      rogue.nc.subscribe(subject, {
        callback: (error, msg) => {
          if (error) return;
          heard++;
          if (msg.reply) msg.respond(forged);
        },
      });
    }
    try {
      await rogue.nc.flush();
      await eventually(() => assert.equal(rogue.refused.filter((e) => e.operation === 'subscription').length, 3));
      // Nor may it slip an answer into an inbox.
      rogue.nc.publish('_INBOX.guess.1', forged);
      await rogue.nc.flush();
      await eventually(() => assert.ok(rogue.refused.some((e) => e.operation === 'publish' && e.subject === '_INBOX.guess.1')));

      for (const who of ['watcher', 'operator'] as const) {
        const status = await cli(who, 'status', 'honest', '-o', 'json');
        assert.equal(status.code, 0, status.stderr);
        const answer = JSON.parse(status.stdout) as { id: string; state: string };
        assert.deepEqual([answer.id, answer.state], ['honest', 'running'], `${who} got the control plane's answer`);
      }
      assert.equal(heard, 0, 'the rogue never heard a request');
    } finally {
      await rogue.nc.close();
      await cli('operator', 'cancel', 'honest');
    }
  });

  it('nobody but the control plane can publish a transition: forged workloads.<id>.<state> reach no watcher and no history', async () => {
    const watcher = await client(servers, 'watcher');
    const seen: TransitionMessage[] = [];
    watcher.nc.subscribe('workloads.>', {
      callback: (error, msg) => {
        const t = error ? null : parseTransition(msg.data, msg.subject);
        if (t) seen.push(t);
      },
    });
    await watcher.nc.flush();
    const forgers = [await client(servers, 'operator'), await client(servers, 'watcher')];
    try {
      const forged = { id: 'forged', type: 'trusted', from: 'running', to: 'tornDown', event: 'runtime.tornDown', reason: 'completed', exitCode: 0, at: new Date().toISOString(), seq: 9 };
      for (const forger of forgers) {
        forger.nc.publish('workloads.forged.tornDown', JSON.stringify(forged));
        await forger.nc.flush();
        await eventually(() => assert.ok(forger.refused.some((e) => e.operation === 'publish' && e.subject === 'workloads.forged.tornDown')));
      }

      // A real workload goes through, to the same watcher and into the history.
      await redis.lpush(tp.plane.keys.queue, JSON.stringify({ id: 'genuine', type: 'trusted', image: 'alpine', cmd: ['true'] }));
      await eventually(() => assert.ok(seen.some((t) => t.id === 'genuine' && t.to === 'tornDown')), 15_000);
      assert.deepEqual(seen.filter((t) => t.id === 'forged'), [], 'no forged transition reached the watcher');

      // The watcher's identity may replay the history (the JetStream permissions are enough) and
      // it holds the real workload only.
      const replay = await cli('watcher', 'watch', '--replay', 'genuine', '-o', 'json');
      assert.equal(replay.code, 0, replay.stderr);
      assert.equal(replay.stdout.trim().split('\n').length, 5);
      const history: TransitionMessage[] = [];
      assert.ok(((await replayTransitions(watcher.nc, 'workloads.>', (t) => history.push(t))) ?? 0) >= 5);
      assert.deepEqual(history.filter((t) => t.id === 'forged'), [], 'nothing forged in the history');

      // Nor can it erase the history.
      for (const subject of ['$JS.API.STREAM.PURGE.LEASEHOLD_TRANSITIONS', '$JS.API.STREAM.DELETE.LEASEHOLD_TRANSITIONS', '$JS.API.STREAM.UPDATE.LEASEHOLD_TRANSITIONS']) {
        watcher.nc.publish(subject, '{}');
        await watcher.nc.flush();
        await eventually(() => assert.ok(watcher.refused.some((e) => e.operation === 'publish' && e.subject === subject), subject));
      }
    } finally {
      for (const c of [watcher, ...forgers]) await c.nc.close();
    }
  });
});
