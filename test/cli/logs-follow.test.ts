import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { SUBJECTS } from '../../src/events/transition.js';
import { OutputTail } from '../../src/runtime/output-tail.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { uniquePrefix, useServers } from '../helpers/servers.js';

const servers = useServers();

/** The process runtime keeps this much of each workload's output (output-tail.ts). */
const KEPT = 64 * 1024;

describe('logs -f prints every byte of the output once, in order', () => {
  let tp: TestPlane;
  let nats: string[];
  let conn: string[];
  let dir: string;
  let nc: NatsConnection;
  before(async () => {
    tp = await startTestPlane(servers());
    nats = ['--nats', servers().nats.url];
    conn = ['--redis', servers().redis.url, ...nats, '--key-prefix', tp.config.keyPrefix];
    dir = mkdtempSync(join(tmpdir(), 'leasehold-follow-'));
    nc = await connect({ servers: servers().nats.url });
  });
  after(async () => {
    await nc.close();
    await tp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const running = async (id: string) => eventually(async () => assert.match((await runCli(['status', id, ...nats])).stdout, /: running\n/), 15_000);

  it('the same line over and over, past the kept tail, burst after burst: no line dropped, none twice', async () => {
    // Each burst waits for its gate, so the test decides when output grows: after the follower
    // has shown the previous one. Five bursts of 20,000 bytes of one repeated line: the tail the
    // control plane keeps (64 KiB) slides past the first bursts, where comparing tails sees nothing new.
    const gate = (n: number) => join(dir, `burst-${n}`);
    const script = `for n in 1 2 3 4 5; do while [ ! -e ${dir}/burst-$n ]; do sleep 0.02; done; yes same | head -n 5000; done`;
    assert.equal((await runCli(['submit', '--id', 'repeats', ...conn, '--cmd', script])).code, 0);
    await running('repeats');
    const follow = spawnCli(['logs', '-f', '--interval', '50', 'repeats', ...nats]);
    try {
      for (let n = 1; n <= 5; n++) {
        writeFileSync(gate(n), '');
        await eventually(() => assert.equal(follow.output().stdout.length, n * 5000 * 'same\n'.length, `burst ${n}`), 15_000);
      }
      const result = await follow.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'same\n'.repeat(25_000));
      assert.equal(result.stderr, '');
    } finally {
      follow.child.kill();
    }
  });

  it('output that outran the kept tail before the first read: what is gone is said on stderr, the rest printed once, then followed', async () => {
    const gate = join(dir, 'outran');
    const script = `seq 1 30000; while [ ! -e ${gate} ]; do sleep 0.02; done; seq 30001 30003`;
    const everything = Array.from({ length: 30_003 }, (_, i) => `${i + 1}\n`).join('');
    assert.equal((await runCli(['submit', '--id', 'outran', ...conn, '--cmd', script])).code, 0);
    await eventually(async () => assert.match((await runCli(['logs', 'outran', ...nats])).stdout, /\n30000\n$/), 15_000);
    const follow = spawnCli(['logs', '-f', '--interval', '50', 'outran', ...nats]);
    try {
      await eventually(() => assert.match(follow.output().stdout, /\n30000\n$/));
      writeFileSync(gate, '');
      const result = await follow.exited;
      assert.equal(result.code, 0, result.stderr);
      const missed = Number(/^leasehold: the first (\d+) bytes of outran's output are no longer kept/.exec(result.stderr)?.[1]);
      assert.ok(missed > 0 && result.stdout.length <= KEPT + 3 * 6, `missed ${missed}, shown ${result.stdout.length}`);
      assert.equal(missed + result.stdout.length, everything.length, 'every byte either shown or counted as gone');
      assert.ok(everything.endsWith(result.stdout), 'what is shown is the output from where the gap ends');
    } finally {
      follow.child.kill();
    }
  });

  it('--tail N then follow: the last N lines, then each new byte once', async () => {
    const gate = join(dir, 'tail-then');
    // More than the kept tail before following starts: the tail has slid, and repeats itself.
    const script = `yes again | head -n 20000; echo ready; while [ ! -e ${gate} ]; do sleep 0.02; done; yes again | head -n 3; echo done`;
    assert.equal((await runCli(['submit', '--id', 'tail-then', ...conn, '--cmd', script])).code, 0);
    await eventually(async () => assert.equal((await runCli(['logs', 'tail-then', '--tail', '1', ...nats])).stdout, 'ready\n'), 15_000);
    const follow = spawnCli(['logs', '-f', '--tail', '2', '--interval', '50', 'tail-then', ...nats]);
    try {
      await eventually(() => assert.equal(follow.output().stdout, 'again\nready\n'));
      writeFileSync(gate, '');
      const result = await follow.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `again\nready\n${'again\n'.repeat(3)}done\n`);
    } finally {
      follow.child.kill();
    }
  });

  it('the logs request keeps its old answer for old askers; `{"from": N}` gets the bytes from N with their offsets', async () => {
    const script = `printf 'h\\303\\251llo\\n'; sleep 600`;
    assert.equal((await runCli(['submit', '--id', 'protocol', ...conn, '--cmd', script])).code, 0);
    await eventually(async () => assert.equal((await runCli(['logs', 'protocol', ...nats])).stdout, 'héllo\n'), 15_000);
    const ask = async (body: string) => JSON.parse(new TextDecoder().decode((await nc.request(SUBJECTS.logs('protocol'), body, { timeout: 5_000 })).data)) as unknown;
    assert.deepEqual(await ask(''), { id: 'protocol', logs: 'héllo\n' });
    assert.deepEqual(await ask('{"from":0}'), { id: 'protocol', logs: 'héllo\n', start: 0, end: 7 });
    assert.deepEqual(await ask('{"from":3}'), { id: 'protocol', logs: 'llo\n', start: 3, end: 7 });
    assert.deepEqual(await ask('{"from":7}'), { id: 'protocol', logs: '', start: 7, end: 7 });
    // A body that is not a logs request is an old asker's: the plain answer, not an error.
    assert.deepEqual(await ask('{"from":-1}'), { id: 'protocol', logs: 'héllo\n' });
    assert.equal((await runCli(['cancel', 'protocol', ...nats])).code, 0);
  });
});

describe('logs -f across replicas', () => {
  let planes: TestPlane[] = [];
  let nc: NatsConnection;
  after(async () => {
    await nc?.close();
    await Promise.all(planes.map((p) => p.stop()));
  });

  it('asked of any replica, the window at an offset comes from the replica whose process holds the output', async () => {
    const keyPrefix = uniquePrefix();
    planes = [
      await startTestPlane(servers(), { keyPrefix, replicaId: 'logs-a', shardTtlMs: 2_000 }),
      await startTestPlane(servers(), { keyPrefix, replicaId: 'logs-b', shardTtlMs: 2_000 }),
    ];
    const [a, b] = planes as [TestPlane, TestPlane];
    await eventually(() => {
      assert.ok(a.plane.ownership.owned().size > 0 && b.plane.ownership.owned().size > 0);
      assert.equal(a.plane.ownership.owned().size + b.plane.ownership.owned().size, 64);
    }, 20_000);
    // One workload on each replica's shards.
    const onShardsOf = (plane: TestPlane) => {
      for (let i = 0; ; i++) if (plane.plane.ownership.owned().has(plane.plane.keys.shardOf(`spread-${i}`))) return `spread-${i}`;
    };
    const ids = [onShardsOf(a), onShardsOf(b)];
    const conn = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', keyPrefix];
    for (const id of ids) assert.equal((await runCli(['submit', '--id', id, ...conn, '--cmd', `echo from ${id}; sleep 600`])).code, 0);
    nc = await connect({ servers: servers().nats.url });
    for (const id of ids) {
      await eventually(async () => assert.equal((await runCli(['logs', id, '--nats', servers().nats.url])).stdout, `from ${id}\n`), 15_000);
      // The queue group picks a replica each time: eight asks reach the other one too, but for 1 in 256.
      for (let ask = 0; ask < 8; ask++) {
        const reply = JSON.parse(new TextDecoder().decode((await nc.request(SUBJECTS.logs(id), '{"from":5}', { timeout: 5_000 })).data)) as unknown;
        assert.deepEqual(reply, { id, logs: `${id}\n`, start: 5, end: `from ${id}\n`.length }, `ask ${ask}`);
      }
    }
  });
});

describe("the process runtime's windows never split a character", () => {
  it('a character whose last byte has not come is left for the next window; one cut by the tail is skipped and counted', () => {
    const tail = new OutputTail(4);
    tail.push(Buffer.from([0x68, 0xc3])); // 'h' and the first byte of 'é'
    assert.deepEqual(tail.window(0, false), { start: 0, end: 1, text: 'h' });
    tail.push(Buffer.from([0xa9, 0x21])); // the rest of 'é', '!'
    assert.deepEqual(tail.window(1, false), { start: 1, end: 4, text: 'é!' });
    tail.push(Buffer.from('€x')); // three bytes and one: the tail (4 bytes) now starts inside nothing but '€x'
    assert.deepEqual(tail.window(4, false), { start: 4, end: 8, text: '€x' });
    tail.push(Buffer.from('y'));
    // From 4, but the tail keeps bytes 5..8: the rest of '€' is skipped, and the gap says so.
    assert.deepEqual(tail.window(4, false), { start: 7, end: 9, text: 'xy' });
    tail.push(Buffer.from([0xe2, 0x82]));
    assert.deepEqual(tail.window(9, true), { start: 9, end: 11, text: '\ufffd' }, 'once the stream has ended, what is there is given');
  });
});
