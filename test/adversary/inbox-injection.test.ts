import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { Leasehold, type SessionHandle } from '../../src/client/index.js';
import { EXEC_HEADERS } from '../../src/events/exec-protocol.js';
import { SUBJECTS } from '../../src/events/transition.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import type { Servers } from '../helpers/servers.js';
import { secret, startShippedServers } from '../security/nats-fixtures.js';

const passwords = { controlPlane: secret('control-plane'), operator: secret('operator'), watcher: secret('watcher') };

/**
 * The shipped nats.conf says "nobody but the control plane publishes into an inbox". A watcher
 * (read-only: status, logs, the history) may create consumers on the history stream, and a push
 * consumer's deliver subject is whatever its creator writes in the request body: the server does
 * not check that its creator could publish there (nats-io/nats-server#8274, open). So a watcher
 * can have the NATS server publish stored transitions into any inbox it has seen on `_INBOX.>`,
 * an operator's running exec included; the exec then fails as LOST_OUTPUT (a message that is not
 * the next of its stream). Subject permissions cannot tell a pull consumer from a push consumer
 * (both are `$JS.API.CONSUMER.CREATE…`, the deliver subject is in the body), so the client
 * tells such deliveries from answers (they carry a reply subject, or are a JetStream status) and
 * ignores them. The watcher can still flood an inbox with the whole history (see the report).
 */
describe('adversary: messages aimed at another asker\'s exec inbox', () => {
  let servers: Servers;
  let tp: TestPlane;
  let operator: Leasehold;
  let watcher: NatsConnection;
  let session: SessionHandle;

  before(async () => {
    servers = await startShippedServers(passwords);
    tp = await startTestPlane(servers, { natsAuth: { user: 'leasehold-control-plane', password: passwords.controlPlane }, historySeconds: 600 });
    operator = await Leasehold.connect({ redis: servers.redis.url, nats: servers.nats.url, natsAuth: { user: 'leasehold-operator', password: passwords.operator }, keyPrefix: tp.config.keyPrefix });
    watcher = await connect({ servers: servers.nats.url, user: 'leasehold-watcher', pass: passwords.watcher });
    session = await operator.session({ type: 'trusted', leaseSeconds: 30 });
  });
  after(async () => {
    await session.close().catch(() => undefined);
    await operator.close();
    await watcher.close();
    await tp.stop();
    await Promise.all([servers.redis.stop(), servers.nats.stop()]);
  });

  it("cannot break an operator's exec by having JetStream deliver into its inbox", async () => {
    // The watcher reads every inbox (`_INBOX.>` is how replies reach it): it sees the exec start.
    const seen: string[] = [];
    watcher.subscribe('_INBOX.>', {
      callback: (_error, msg) => {
        if (msg.headers?.get(EXEC_HEADERS.kind) === 'started') seen.push(msg.subject);
      },
    });
    await watcher.flush();
    const run = session.exec(['sh', '-c', 'sleep 2; echo done']);
    await eventually(() => assert.equal(seen.length, 1, "the watcher saw the exec's inbox"));
    const jsm = await jetstreamManager(watcher);
    await jsm.consumers
      .add(SUBJECTS.historyStream, { deliver_subject: seen[0]!, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.Last })
      .catch(() => undefined); // refused is the outcome we want
    let out = '';
    for await (const chunk of run.stdout) out += Buffer.from(chunk).toString();
    assert.deepEqual(await run.result, { exitCode: 0 });
    assert.equal(out, 'done\n');
  });

  it("cannot break another operator's exec by aiming its own exec's stdin acks and ping answers at it", async () => {
    // Both are operators; the attacker reads `_INBOX.>` as every client identity may.
    await using attacker = await Leasehold.connect({ redis: servers.redis.url, nats: servers.nats.url, natsAuth: { user: 'leasehold-operator', password: passwords.operator }, keyPrefix: tp.config.keyPrefix });
    const sniffer = await connect({ servers: servers.nats.url, user: 'leasehold-operator', pass: passwords.operator });
    try {
      const inboxes: string[] = [];
      const tokens: string[] = [];
      sniffer.subscribe('_INBOX.>', {
        callback: (_error, msg) => {
          if (msg.headers?.get(EXEC_HEADERS.kind) !== 'started') return;
          inboxes.push(msg.subject);
          tokens.push((JSON.parse(msg.string()) as { exec: string }).exec);
        },
      });
      await sniffer.flush();
      const victim = session.exec(['sh', '-c', 'sleep 2; echo done']);
      await eventually(() => assert.equal(inboxes.length, 1));
      const own = attacker.exec(session.id, ['sh', '-c', 'cat > /dev/null'], { stdin: (async function* () { await new Promise((resolve) => setTimeout(resolve, 3_000)); })() });
      await eventually(() => assert.equal(tokens.length, 2));
      // Stdin chunks and pings of its own exec, with the victim's inbox as their reply subject.
      const h = headers();
      h.set(EXEC_HEADERS.kind, 'stdin');
      h.set(EXEC_HEADERS.seq, '0');
      sniffer.publish(SUBJECTS.execInput(session.id, tokens[1]!), 'x', { headers: h, reply: inboxes[0]! });
      const p = headers();
      p.set(EXEC_HEADERS.kind, 'ping');
      sniffer.publish(SUBJECTS.execInput(session.id, tokens[1]!), '', { headers: p, reply: inboxes[0]! });
      let out = '';
      for await (const chunk of victim.stdout) out += Buffer.from(chunk).toString();
      assert.deepEqual(await victim.result, { exitCode: 0 });
      assert.equal(out, 'done\n');
      own.abort();
    } finally {
      await sniffer.close();
    }
  });
});
