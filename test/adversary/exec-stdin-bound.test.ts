import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createInbox, headers } from '@nats-io/transport-node';
import { Leasehold, type SessionHandle } from '../../src/client/index.js';
import { DEFAULT_EXEC_LIMITS, EXEC_HEADERS } from '../../src/events/exec-protocol.js';
import { SUBJECTS } from '../../src/events/transition.js';
import { eventually } from '../helpers/eventually.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { useServers } from '../helpers/servers.js';

const servers = useServers();
const MiB = 1024 * 1024;

/**
 * An operator (anyone allowed to publish `leasehold.exec.*.*`) streams stdin into a command that
 * never reads it. NATS has no back-pressure for a publisher, so every byte the command has not
 * taken waits in the control plane; with no bound, a few GB of stdin take the control plane (and
 * every workload it drives) down. The exec must end instead, as a command writing faster than
 * NATS takes its output does.
 */
describe('adversary: stdin sent faster than the command reads it', () => {
  let tp: TestPlane;
  let lh: Leasehold;
  let session: SessionHandle;

  before(async () => {
    tp = await startTestPlane(servers());
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    session = await lh.session({ type: 'trusted', leaseSeconds: 30 });
  });
  after(async () => {
    await session.close().catch(() => undefined);
    await lh.close();
    await tp.stop();
  });

  it('ends an exec whose unread stdin passes the bound, rather than hold it all in the control plane', async () => {
    // The attacker speaks the protocol itself and ignores the control plane's stdin acks.
    const nc = await connect({ servers: servers().nats.url });
    try {
      const inbox = createInbox();
      const answers: { kind: string; body: string }[] = [];
      let token = '';
      nc.subscribe(inbox, {
        callback: (_error, msg) => {
          const kind = msg.headers?.get(EXEC_HEADERS.kind) ?? '';
          if (kind === 'started') token = (JSON.parse(msg.string()) as { exec: string }).exec;
          answers.push({ kind, body: kind === 'stdout' || kind === 'stderr' ? '' : msg.string() });
        },
      });
      nc.publish(SUBJECTS.exec(session.id), JSON.stringify({ cmd: ['sleep', '3600'], stdin: true }), { reply: inbox });
      await eventually(() => assert.notEqual(token, '', 'the exec started'));
      const chunk = Buffer.alloc(512 * 1024, 0x61);
      const flood = 8 * DEFAULT_EXEC_LIMITS.maxUnreadStdinBytes;
      for (let seq = 0, sent = 0; sent < flood && !answers.some((a) => a.kind === 'exit'); seq++, sent += chunk.length) {
        const h = headers();
        h.set(EXEC_HEADERS.kind, 'stdin');
        h.set(EXEC_HEADERS.seq, String(seq));
        nc.publish(SUBJECTS.execInput(session.id, token), chunk, { headers: h });
        if (seq % 4 === 3) await nc.flush();
      }
      // Without a bound the command runs on (it never reads) and the control plane holds every byte.
      await eventually(() => assert.deepEqual(answers.at(-1), { kind: 'exit', body: JSON.stringify({ exitCode: null, reason: 'stdin faster than the command reads it' }) }), 20_000);
    } finally {
      await nc.close();
    }
    const after = session.exec(['echo', 'still serving']);
    assert.deepEqual(await after.result, { exitCode: 0 }, 'the session takes execs after the flood');
  });

  it('holds back an asker that waits for acks while the command is not reading, and never cancels it', async () => {
    const total = 3 * DEFAULT_EXEC_LIMITS.maxUnreadStdinBytes;
    const chunk = Buffer.alloc(MiB, 0x62);
    // The command reads nothing for a while: the client must wait, not flood past the bound.
    const run = session.exec(['sh', '-c', 'sleep 2; exec wc -c'], {
      stdin: (async function* () {
        for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
      })(),
    });
    let out = '';
    for await (const piece of run.stdout) out += Buffer.from(piece).toString();
    assert.deepEqual(await run.result, { exitCode: 0 });
    assert.equal(out.trim(), String(total));
  });

  it('still takes stdin that the command reads, however large', async () => {
    const total = 3 * DEFAULT_EXEC_LIMITS.maxUnreadStdinBytes;
    const chunk = Buffer.alloc(MiB, 0x62);
    const run = session.exec(['wc', '-c'], {
      stdin: (async function* () {
        for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
      })(),
    });
    let out = '';
    for await (const piece of run.stdout) out += Buffer.from(piece).toString();
    assert.deepEqual(await run.result, { exitCode: 0 });
    assert.equal(out.trim(), String(total));
  });
});
