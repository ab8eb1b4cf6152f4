import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsTransitionPublisher } from '../../src/events/nats-bus.js';
import { HISTORY_STREAM, keepTransitionHistory } from '../../src/events/transition-history.js';
import { subjectsFor, type TransitionMessage } from '../../src/events/transition.js';
import { silentLogger } from '../../src/log.js';
import { eventually } from '../helpers/eventually.js';
import { useServers } from '../helpers/servers.js';

const servers = useServers();

describe('transition history (JetStream)', () => {
  it('is bounded in bytes as well as age: a flood of transitions drops the oldest instead of filling the disk', async () => {
    const nc = await connect({ servers: servers().nats.url });
    try {
      assert.equal(await keepTransitionHistory(nc, { maxAgeSeconds: 3600, maxBytes: 16 * 1024 }, silentLogger), true);
      const padding = 'x'.repeat(200);
      for (let i = 0; i < 500; i++) nc.publish(`workloads.flood-${i}.queued`, JSON.stringify({ id: `flood-${i}`, padding }));
      await nc.flush();
      const jsm = await jetstreamManager(nc);
      // The stream stores what the server routed to it a moment after the publisher's flush.
      await eventually(async () => assert.equal((await jsm.streams.info(HISTORY_STREAM)).state.last_seq, 500));
      const info = await jsm.streams.info(HISTORY_STREAM);
      assert.equal(info.config.max_bytes, 16 * 1024);
      assert.ok(info.state.bytes <= 16 * 1024, `${info.state.bytes} bytes kept`);
      assert.ok(info.state.first_seq > 1, 'the oldest were dropped');
    } finally {
      await nc.close();
    }
  });
});

describe('transition message ids (JetStream de-duplication)', () => {
  it('reach the history stream, so a transition sent again after an outage is stored once', async () => {
    const nc = await connect({ servers: servers().nats.url });
    try {
      const subjects = subjectsFor('dedupe');
      assert.equal(await keepTransitionHistory(nc, { maxAgeSeconds: 3600, maxBytes: 1024 * 1024 }, silentLogger, subjects), true);
      const message: TransitionMessage = { id: 'again', type: 'trusted', from: null, to: 'queued', event: 'workload.submitted', at: new Date(0).toISOString(), seq: 1, epoch: 1 };
      const publisher = new NatsTransitionPublisher(silentLogger, subjects);
      publisher.attach(nc);
      publisher.publish(message);
      publisher.publish(message); // the copy a reconnect sends again
      publisher.publish({ ...message, seq: 2, to: 'provisioning' });
      await nc.flush();
      const jsm = await jetstreamManager(nc);
      const stream = subjects.historyStream;
      await eventually(async () => assert.equal((await jsm.streams.info(stream)).state.last_seq, 2));
      const first = (await jsm.streams.getMessage(stream, { seq: 1 }))!;
      assert.equal(first.header.get('Nats-Msg-Id'), `again.1.${message.at}`);
      assert.equal(first.json<TransitionMessage>().to, 'queued');
      assert.equal((await jsm.streams.info(stream)).state.messages, 2, 'the copy was dropped by its message id');
    } finally {
      await nc.close();
    }
  });
});
