import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { parseSelector, matches } from '../../src/cli/list/selector.js';
import { createKeys } from '../../src/keys.js';
import { memberKeys } from '../../src/ownership/shards.js';
import { InstantRuntime } from '../../src/runtime/instant/instant-runtime.js';
import type { WorkloadRuntime } from '../../src/runtime/runtime.js';
import { bashCompletes, runCli, runCliInTerminal } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/eventually.js';
import { redisClient, uniquePrefix, useServers } from '../helpers/servers.js';

const servers = useServers();

interface Row {
  id: string;
  type: string;
  state: string;
  labels: Record<string, string>;
  owner: string | null;
  replica: string | null;
  shard: number;
  createdAt: string | null;
  endedAt: string | null;
  waiting: string | null;
  reason: string | null;
  exitCode: number | null;
}

/**
 * Workloads that run until torn down, with no process behind them (InstantRuntime keeps `sleep`
 * running). The untrusted one stands for a sandbox: the router sends untrusted work only to an
 * isolated runtime.
 */
const instant = () => ({
  runtimes: { trusted: new InstantRuntime(), untrusted: Object.defineProperty(new InstantRuntime(), 'isolated', { value: true }) as WorkloadRuntime },
});

async function listJson(conn: string[], ...args: string[]): Promise<Row[]> {
  const result = await runCli(['list', ...conn, '-o', 'json', ...args]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Row[];
}

const ids = (rows: Row[]) => rows.map((r) => r.id);

/** A workload hash as intake and the store write it (record.lua, save.lua), for records no intake would accept. */
async function writeRecord(redis: Redis, prefix: string, shardCount: number, id: string, spec: object, context: object = {}): Promise<void> {
  const keys = createKeys(prefix, shardCount);
  const snapshot = { status: 'active', value: 'provisioning', context: { timings: { queued: Date.now() - 5_000 }, ...context } };
  await redis.hset(keys.workload(id), { spec: JSON.stringify({ id, ...spec }), state: 'provisioning', snapshot: JSON.stringify(snapshot), seq: 2, replica: 'replica-x' });
  await redis.sadd(keys.shard(keys.shardOf(id)).active, id);
}

describe('leasehold list', () => {
  let tp: TestPlane;
  let conn: string[];
  before(async () => {
    tp = await startTestPlane(servers(), { maxConcurrent: { trusted: 1, untrusted: 1 }, replicaId: 'list-replica' }, instant());
    conn = ['--redis', servers().redis.url, '--key-prefix', tp.config.keyPrefix];
    const submit = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', tp.config.keyPrefix];
    // One that has finished before the others are submitted: it must not be listed.
    assert.equal((await runCli(['submit', '--wait', '--id', 'done-d', ...submit, '--', 'true'])).code, 0);
    assert.notEqual((await runCli(['submit', '--wait', '--id', 'failed-f', ...submit, '--', 'sh', '-c', 'exit 3'])).code, 0);
    assert.equal((await runCli(['submit', '--id', 'gpu-a', '-l', 'team=ml', '-l', 'tier=gpu', ...submit, '--', 'sleep', '600'])).code, 0);
    await eventually(async () => assert.deepEqual((await listJson(conn)).map((r) => [r.id, r.state]), [['gpu-a', 'running']]));
    // Past the trusted limit of 1: it stays queued while gpu-a runs.
    assert.equal((await runCli(['submit', '--id', 'web-b', '-l', 'team=web', ...submit, '--', 'sleep', '600'])).code, 0);
    assert.equal((await runCli(['submit', '--id', 'ml-c', '--type', 'untrusted', '-l', 'team=ml', ...submit, '--', 'sleep', '600'])).code, 0);
    await eventually(async () =>
      assert.deepEqual(
        (await listJson(conn)).map((r) => [r.id, r.state]),
        [
          ['gpu-a', 'running'],
          ['ml-c', 'running'],
          ['web-b', 'queued'],
        ],
      ),
    );
  });
  after(() => tp.stop());

  it('shows every unfinished workload in a table, kubectl-style, and not the finished one', async () => {
    const result = await runCli(['list', ...conn]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID {6}TYPE {8}STATE {5}AGE {3}REASON$/);
    assert.match(lines[1]!, /^gpu-a {3}trusted {5}running {3}\d+s {3,4}-$/);
    assert.match(lines[2]!, /^ml-c {4}untrusted {3}running {3}\d+s {3,4}-$/);
    assert.match(lines[3]!, /^web-b {3}trusted {5}queued {4}\d+s {3,4}-$/);
    assert.equal(lines.length, 4, 'done-d and failed-f finished and are not listed');
    assert.equal(result.stderr, '');
  });

  it('filters by state (repeated or a comma list), type and label selector, all at once', async () => {
    assert.deepEqual(ids(await listJson(conn, '--state', 'running')), ['gpu-a', 'ml-c']);
    assert.deepEqual(ids(await listJson(conn, '--state', 'queued,running', '--type', 'trusted')), ['gpu-a', 'web-b']);
    assert.deepEqual(ids(await listJson(conn, '--state', 'queued', '--state', 'running', '-l', 'team=ml')), ['gpu-a', 'ml-c']);
    assert.deepEqual(ids(await listJson(conn, '-l', 'team=ml,tier!=gpu')), ['ml-c']);
    assert.deepEqual(ids(await listJson(conn, '-l', 'team in (web,ml)', '--selector', '!tier')), ['ml-c', 'web-b']);
    assert.deepEqual(ids(await listJson(conn, '-l', 'tier')), ['gpu-a']);
    assert.deepEqual(ids(await listJson(conn, '--state', 'provisioning')), []);
  });

  it('-o wide adds image, shard, owner, replica and labels; -o yaml is the same data as -o json', async () => {
    const wide = await runCli(['list', ...conn, '-o', 'wide', '-l', 'tier=gpu']);
    const [header, row] = wide.stdout.trimEnd().split('\n');
    assert.match(header!, /^ID\s+TYPE\s+STATE\s+AGE\s+REASON\s+IMAGE\s+SHARD\s+OWNER\s+REPLICA\s+LABELS$/);
    const replica = 'list-replica';
    assert.match(row!, new RegExp(`^gpu-a\\s+trusted\\s+running\\s+\\d+s\\s+-\\s+alpine\\s+${createKeys().shardOf('gpu-a')}\\s+${replica}\\s+${replica}\\s+team=ml,tier=gpu$`));
    const json = await listJson(conn);
    const yaml = await runCli(['list', ...conn, '-o', 'yaml']);
    assert.deepEqual(parseYaml(yaml.stdout), json);
    assert.ok(json.every((r) => r.createdAt !== null && Date.parse(r.createdAt) <= Date.now()));
  });

  it('reads with read-only commands and no keyspace SCAN: a Redis user allowed nothing else can list', async () => {
    const redis = redisClient(servers().redis.url);
    try {
      await redis.call('ACL', 'SETUSER', 'lister', 'on', '>list-only', '~*', '-@all', '+@read', '+time', '+info', '-scan', '-keys', '-randomkey');
    } finally {
      redis.disconnect();
    }
    const url = new URL(servers().redis.url);
    url.username = 'lister';
    url.password = 'list-only';
    assert.deepEqual(ids(await listJson(['--redis', url.toString(), '--key-prefix', tp.config.keyPrefix])), ['gpu-a', 'ml-c', 'web-b']);
  });

  it('Redis refusing a read is one line and exit 1, not a stack trace', async () => {
    const redis = redisClient(servers().redis.url);
    try {
      await redis.call('ACL', 'SETUSER', 'no-sscan', 'on', '>no-sscan', '~*', '-@all', '+@read', '+time', '+info', '-sscan');
    } finally {
      redis.disconnect();
    }
    const url = new URL(servers().redis.url);
    url.username = 'no-sscan';
    url.password = 'no-sscan';
    const result = await runCli(['list', '--redis', url.toString(), '--key-prefix', tp.config.keyPrefix]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^leasehold: reading the workloads from Redis at redis:\/\/no-sscan:\*+@[^ ]+ failed: NOPERM .*sscan/);
    assert.doesNotMatch(result.stderr, /no-sscan@|:no-sscan@|    at /, 'neither the password nor a stack');
  });

  it('--state tornDown lists the finished workloads, each with how it ended; -A lists both, each once', async () => {
    const finished = await listJson(conn, '--state', 'tornDown');
    assert.deepEqual(
      finished.map((r) => [r.id, r.state, r.reason, r.exitCode]),
      [
        ['done-d', 'tornDown', 'completed', 0],
        ['failed-f', 'tornDown', 'failed', 3],
      ],
    );
    assert.ok(finished.every((r) => r.endedAt !== null && Date.parse(r.endedAt) >= Date.parse(r.createdAt!)));
    const table = await runCli(['list', ...conn, '--state', 'tornDown']);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+TYPE\s+STATE\s+AGE\s+ENDED\s+REASON$/);
    assert.match(lines[1]!, /^done-d\s+trusted\s+tornDown\s+\d+s\s+\d+s\s+completed \(exit 0\)$/);
    assert.match(lines[2]!, /^failed-f\s+trusted\s+tornDown\s+\d+s\s+\d+s\s+failed \(exit 3\)$/);
    assert.deepEqual(ids(await listJson(conn, '-A')), ['done-d', 'failed-f', 'gpu-a', 'ml-c', 'web-b']);
    assert.deepEqual(ids(await listJson(conn, '--all', '--state', 'tornDown,queued')), ['done-d', 'failed-f', 'web-b']);
    assert.deepEqual(ids(await listJson(conn, '--state', 'tornDown', '--limit', '1')), ['failed-f'], 'the most recently finished');
    assert.match((await runCli(['list', '--help'])).stdout, /finished ones \(tornDown\) are listed with --state tornDown or -A/);
  });

  it('a wrong filter is a usage error (exit 2) that says what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['--state', 'runing'], /"runing" is not a state; expected queued, provisioning, running, expiring, tornDown/],
      [['--limit', 'ten'], /expected a whole number, got "ten"/],
      [['--type', 'both'], /Allowed choices are trusted, untrusted/],
      [['-l', 'team=a=b'], /"a=b" is not a label value/],
      [['-l', 'team in (a,b'], /unbalanced parentheses/],
      [['-l', 'team=ml,'], /an empty requirement/],
      [['-o', 'csv'], /Allowed choices are table, wide, json, yaml/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['list', ...conn, ...args]);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
    }
  });

  it('Redis out of reach: exit 1 and a line that says which Redis', async () => {
    const result = await runCli(['list', '--redis', 'redis://127.0.0.1:1']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^leasehold: cannot reach Redis at redis:\/\/127\.0\.0\.1:1 /);
  });
});

describe('leasehold list across replicas', () => {
  let planes: TestPlane[] = [];
  after(() => Promise.all(planes.map((p) => p.stop())));

  it('lists the workloads of every replica sharing the Redis, each with the replica that holds it', async () => {
    const keyPrefix = uniquePrefix();
    const a = await startTestPlane(servers(), { keyPrefix, replicaId: 'replica-a', shardTtlMs: 2_000 }, instant());
    planes.push(a);
    const b = await startTestPlane(servers(), { keyPrefix, replicaId: 'replica-b', shardTtlMs: 2_000 }, instant());
    planes.push(b);
    await eventually(() => {
      assert.ok(a.plane.ownership.owned().size > 0 && b.plane.ownership.owned().size > 0);
      assert.equal(a.plane.ownership.owned().size + b.plane.ownership.owned().size, 64);
    }, 20_000);
    const submit = ['--redis', servers().redis.url, '--nats', servers().nats.url, '--key-prefix', keyPrefix];
    const wanted = Array.from({ length: 12 }, (_, i) => `spread-${i}`);
    for (const id of wanted) assert.equal((await runCli(['submit', '--id', id, ...submit, '--', 'sleep', '600'])).code, 0);
    const conn = ['--redis', servers().redis.url, '--key-prefix', keyPrefix];
    let rows: Row[] = [];
    await eventually(async () => {
      rows = await listJson(conn, '--state', 'running');
      assert.deepEqual(ids(rows), [...wanted].sort());
    }, 20_000);
    for (const row of rows) {
      const holder = a.plane.ownership.owned().has(row.shard) ? 'replica-a' : 'replica-b';
      assert.deepEqual([row.owner, row.replica], [holder, holder], row.id);
    }
    assert.deepEqual(new Set(rows.map((r) => r.owner)), new Set(['replica-a', 'replica-b']), 'the ids were meant to land on both replicas');
    // Finished ones too: each owner indexes what it finished in its own shards; one listing reads them all.
    const done = Array.from({ length: 6 }, (_, i) => `ended-${i}`);
    for (const id of done) assert.equal((await runCli(['submit', '--wait', '--id', id, ...submit, '--', 'true'])).code, 0);
    const finished = await listJson(conn, '--state', 'tornDown');
    assert.deepEqual(ids(finished), done);
    assert.deepEqual(new Set(finished.map((r) => r.replica)), new Set(['replica-a', 'replica-b']), 'finished on both replicas');
  });
});

describe('leasehold list on records no control plane of this version wrote', () => {
  let redis: Redis;
  before(() => {
    redis = redisClient(servers().redis.url);
  });
  after(() => redis.disconnect());

  it('with no workload: "No workloads." on stderr, nothing on stdout, exit 0; as data an empty list', async () => {
    const conn = ['--redis', servers().redis.url, '--key-prefix', uniquePrefix()];
    assert.deepEqual(await runCli(['list', ...conn]), { code: 0, stdout: '', stderr: 'No workloads.\n' });
    assert.deepEqual(await runCli(['list', ...conn, '-o', 'json']), { code: 0, stdout: '[]\n', stderr: '' });
    assert.deepEqual(await runCli(['list', ...conn, '-o', 'yaml']), { code: 0, stdout: '[]\n', stderr: '' });
  });

  it('pages through a set larger than one SSCAN page, in the shards the installation uses, each workload once', async () => {
    const prefix = uniquePrefix();
    // An installation of one shard: the listing must look where its replicas write, not in 64 shards.
    await redis.set(memberKeys(prefix).shardCount, '1');
    const written = Array.from({ length: 1_234 }, (_, i) => `w-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < written.length; i += 200) {
      await Promise.all(written.slice(i, i + 200).map((id) => writeRecord(redis, prefix, 1, id, { type: 'trusted', image: 'alpine', cmd: 'true' })));
    }
    // An id whose record expired between its end and the active set's cleanup: skipped, not an error.
    await redis.sadd(createKeys(prefix, 1).shard(0).active, 'expired-meanwhile');
    const conn = ['--redis', servers().redis.url, '--key-prefix', prefix];
    const listed = await runCli(['list', ...conn, '-o', 'json']);
    assert.deepEqual([listed.code, listed.stderr], [0, '']);
    assert.deepEqual(ids(JSON.parse(listed.stdout) as Row[]), written);
    // A record that is there but not a workload (written by hand, or by something else): said, not hidden.
    await redis.hset(createKeys(prefix, 1).workload('not-ours'), { spec: 'not json', state: 'running' });
    await redis.sadd(createKeys(prefix, 1).shard(0).active, 'not-ours');
    const withJunk = await runCli(['list', ...conn, '-o', 'json']);
    assert.equal(withJunk.code, 0);
    assert.equal(withJunk.stderr, 'leasehold: skipped 1 unreadable record: not-ours\n');
    assert.equal((JSON.parse(withJunk.stdout) as Row[]).length, written.length);
  });

  it('escapes what a record holds on a terminal: ids, images, labels and the runtime\'s words cannot drive it', async () => {
    const prefix = uniquePrefix();
    await writeRecord(
      redis,
      prefix,
      64,
      'evil\x1b]0;pwned\x07',
      { type: 'trusted', image: 'alpine\rreason=completed', cmd: 'true', labels: { team: '\u202eevil', 'x\x1b[2J': 'y' } },
      { waiting: 'ErrImagePull\x1b]52;c;cm0gLXJmIH4K\x07\n\u009b31m' },
    );
    const conn = ['--redis', servers().redis.url, '--key-prefix', prefix];
    for (const output of ['table', 'wide', 'json', 'yaml']) {
      const result = await runCliInTerminal(['list', ...conn, '-o', output]);
      assert.equal(result.code, 0, result.stdout);
      assertInert(result.stdout, `list -o ${output}`);
      assert.match(result.stdout, /evil\\(?:x1b|u001b|e)\]0;pwned\\(?:x07|u0007|a)/, output);
    }
    const wide = await runCliInTerminal(['list', ...conn, '-o', 'wide']);
    assert.match(wide.stdout, /waiting: ErrImagePull\\x1b\]52;c;cm0gLXJmIH4K\\x07\\n\\x9b31m/);
    assert.match(wide.stdout, /alpine\\rreason=completed/);
    assert.match(wide.stdout, /team=\\u202eevil,x\\x1b\[2J=y/);
    assert.equal(wide.stdout.trimEnd().split('\n').length, 2, 'one header, one row: no newline of the record broke it');
  });
});

/** Escape sequences the CLI itself writes on a terminal: SGR colours. */
const OURS = /\x1b\[(?:\d+(?:;\d+)*)?m/g;

function assertInert(output: string, what: string): void {
  const foreign = output.replace(OURS, '');
  assert.doesNotMatch(foreign, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, `${what} passed a control character through raw:\n${JSON.stringify(foreign)}`);
}

describe('label selectors mean what they mean to kubectl', () => {
  const labels = { team: 'ml', tier: 'gpu' };
  const cases: [string, boolean][] = [
    ['team=ml', true],
    ['team==ml', true],
    ['team=web', false],
    ['team!=web', true],
    ['owner!=bob', true], // an absent label is not equal to anything
    ['team in (web, ml)', true],
    ['team notin (ml)', false],
    ['owner notin (bob)', true],
    ['tier', true],
    ['!tier', false],
    ['!owner', true],
    ['team=ml,tier=cpu', false], // every requirement must hold
    ['team=ml, tier in (gpu,cpu)', true],
    ['team=', false], // the empty value
  ];
  for (const [selector, expected] of cases) {
    it(`${selector} ${expected ? 'selects' : 'does not select'} team=ml,tier=gpu`, () => {
      assert.equal(matches(parseSelector(selector), labels), expected);
    });
  }
});


describe('leasehold list in the shell', () => {
  it('completion offers list, its flags, the states, types and output formats', () => {
    assert.deepEqual(bashCompletes('leasehold li'), ['list']);
    for (const flag of ['--state', '--type', '--selector', '--output', '--redis', '--key-prefix']) assert.ok(bashCompletes('leasehold list --').includes(flag), flag);
    assert.deepEqual(bashCompletes('leasehold list --state '), ['queued', 'provisioning', 'running', 'expiring', 'tornDown']);
    assert.deepEqual(bashCompletes('leasehold list --type '), ['trusted', 'untrusted']);
    assert.deepEqual(bashCompletes('leasehold list -o '), ['table', 'wide', 'json', 'yaml']);
  });
});
