import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { runCli, spawnCli, startCliControlPlane } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { useServers } from '../helpers/servers.js';
import { alive } from '../helpers/processes.js';

const servers = useServers();

type Plane = { child: ChildProcess; exited: Promise<number | null>; logs: () => string };

/**
 * Two installations, `alpha` and `beta`, on one Redis and one NATS, as two teams sharing the
 * servers would run them. Both are given the same state directory and the same replica id (two
 * Kubernetes Deployments both call their first Pod `leasehold-0`): only the installation name
 * keeps them apart.
 */
describe('two installations on one Redis and one NATS', () => {
  let stateDir: string;
  const planes = new Map<string, Plane>();
  const conn = () => ['--redis', servers().redis.url, '--nats', servers().nats.url];
  const startPlane = async (installation: string) => {
    const plane = await startCliControlPlane([...conn(), '--installation', installation, '--replica-id', 'r1', '--state-dir', stateDir, '--http-port', '0', '--grace', '500', '--history', '3600']);
    planes.set(installation, plane);
    return plane;
  };
  const stopPlane = async (installation: string) => {
    const plane = planes.get(installation)!;
    plane.child.kill('SIGTERM');
    await plane.exited;
  };
  const status = async (installation: string, id: string) => {
    const result = await runCli(['status', id, '--installation', installation, '-o', 'json', '--nats', servers().nats.url]);
    return result.code === 0 ? (JSON.parse(result.stdout) as { state: string; reason?: string }) : null;
  };
  /** The pid of a local workload, from its installation's own pid file. */
  const pidOf = (installation: string, id: string) =>
    (JSON.parse(readFileSync(join(stateDir, 'installations', installation, 'replicas', 'r1', 'process', 'pids', `${id}.json`), 'utf8')) as { pid: number }).pid;

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'leasehold-ns-'));
    await startPlane('alpha');
    await startPlane('beta');
  });
  after(async () => {
    for (const plane of planes.values()) if (plane.child.exitCode === null) plane.child.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("a watcher of one installation sees its own workloads' transitions and none of the other's, even under the same id", async () => {
    const nats = ['--nats', servers().nats.url];
    const watchers = {
      alpha: spawnCli(['watch', '--installation', 'alpha', ...nats]),
      beta: spawnCli(['watch', '--installation', 'beta', ...nats]),
      // The default installation's `workloads.>` must not match a named one's subjects either.
      none: spawnCli(['watch', ...nats]),
    };
    try {
      for (const watcher of Object.values(watchers)) await eventually(() => assert.match(watcher.output().stdout, /^watching /));
      const alphaRun = await runCli(['submit', '--wait', '--installation', 'alpha', '--id', 'same-id', ...conn(), '--', 'echo', 'from alpha']);
      const betaRun = await runCli(['submit', '--wait', '--installation', 'beta', '--id', 'same-id', ...conn(), '--', 'echo', 'from beta']);
      assert.equal(alphaRun.code, 0, alphaRun.stderr);
      assert.equal(betaRun.code, 0, betaRun.stderr);
      assert.match(alphaRun.stdout, /^from alpha$/m);
      assert.doesNotMatch(alphaRun.stdout, /from beta/, "alpha's submitter was shown beta's output");
      assert.match(betaRun.stdout, /^from beta$/m);
      const alphaOnly = await runCli(['submit', '--wait', '--installation', 'alpha', '--id', 'alpha-only', ...conn(), '--', 'true']);
      assert.equal(alphaOnly.code, 0, alphaOnly.stderr);
      await eventually(() => assert.match(watchers.alpha.output().stdout, /alpha-only .*→ tornDown/));
      await eventually(() => assert.match(watchers.beta.output().stdout, /same-id .*→ tornDown/));
    } finally {
      for (const watcher of Object.values(watchers)) watcher.child.kill('SIGINT');
      await Promise.all(Object.values(watchers).map((w) => w.exited));
    }
    /** `id:state` of each transition line a watcher printed, after its `watching …` header. */
    const seen = (text: string) =>
      text
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((line) => /^\S+\s+(\S+)\s+\S+\s+→ (\S+)/.exec(line)?.slice(1).join(':') ?? line);
    const chain = (id: string) => ['queued', 'provisioning', 'running', 'expiring', 'tornDown'].map((state) => `${id}:${state}`);
    assert.deepEqual(seen(watchers.alpha.output().stdout), [...chain('same-id'), ...chain('alpha-only')]);
    assert.deepEqual(seen(watchers.beta.output().stdout), chain('same-id'), "beta's watcher saw alpha's workloads");
    assert.deepEqual(seen(watchers.none.output().stdout), [], 'a watcher of the default installation saw a named one');
    // The same id's output comes from each installation's own workload.
    const logsOf = async (installation: string) => (await runCli(['logs', 'same-id', '--installation', installation, ...nats])).stdout;
    assert.equal(await logsOf('alpha'), 'from alpha\n');
    assert.equal(await logsOf('beta'), 'from beta\n');
  });

  it("keeps each installation's history in its own JetStream stream, and replays only its own", async () => {
    const nc = await connect({ servers: servers().nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const alpha = await jsm.streams.info('LEASEHOLD_TRANSITIONS_alpha');
      const beta = await jsm.streams.info('LEASEHOLD_TRANSITIONS_beta');
      assert.deepEqual(alpha.config.subjects, ['alpha.workloads.>']);
      assert.deepEqual(beta.config.subjects, ['beta.workloads.>']);
      await assert.rejects(jsm.streams.info('LEASEHOLD_TRANSITIONS'), 'no installation wrote the default stream');
    } finally {
      await nc.close();
    }
    const replay = await runCli(['watch', 'same-id', '--replay', '--installation', 'beta', '-o', 'json', '--nats', servers().nats.url]);
    assert.equal(replay.code, 0, replay.stderr);
    const ends = replay.stdout.trim().split('\n').map((line) => JSON.parse(line) as { to: string; exitCode?: number });
    assert.deepEqual(ends.map((t) => t.to), ['queued', 'provisioning', 'running', 'expiring', 'tornDown'], 'one chain: beta\'s, not alpha\'s beside it');
  });

  it('status and cancel given one installation cannot reach a workload of the other', async () => {
    const submitted = await runCli(['submit', '--installation', 'beta', '--id', 'beta-long', ...conn(), '--', 'sleep', '30']);
    assert.equal(submitted.code, 0, submitted.stderr);
    await eventually(async () => assert.equal((await status('beta', 'beta-long'))?.state, 'running'));

    const asked = await runCli(['status', 'beta-long', '--installation', 'alpha', '--nats', servers().nats.url]);
    assert.equal(asked.code, 1);
    assert.equal(asked.stderr, 'leasehold: no workload beta-long\n');
    const cancelled = await runCli(['cancel', 'beta-long', '--installation', 'alpha', '--nats', servers().nats.url]);
    assert.equal(cancelled.code, 1);
    assert.equal(cancelled.stderr, 'leasehold: no workload beta-long\n');
    const unnamed = await runCli(['cancel', 'beta-long', '--nats', servers().nats.url]);
    assert.notEqual(unnamed.code, 0);
    assert.match(unnamed.stderr, /no control plane answered cancel beta-long/);

    assert.equal((await status('beta', 'beta-long'))?.state, 'running', 'beta-long was cancelled from outside its installation');
    assert.ok(alive(pidOf('beta', 'beta-long')));
    const own = await runCli(['cancel', 'beta-long', '--installation', 'beta', '--nats', servers().nats.url]);
    assert.equal(own.code, 0, own.stderr);
    await eventually(async () => assert.equal((await status('beta', 'beta-long'))?.reason, 'cancelled'));
  });

  it("restarting one installation leaves the other's local workloads running, with the same state dir and replica id", async () => {
    const submitted = await runCli(['submit', '--installation', 'alpha', '--id', 'alpha-long', ...conn(), '--', 'sleep', '30']);
    assert.equal(submitted.code, 0, submitted.stderr);
    await eventually(async () => assert.equal((await status('alpha', 'alpha-long'))?.state, 'running'));
    const pid = pidOf('alpha', 'alpha-long');
    assert.ok(alive(pid));
    assert.ok(!existsSync(join(stateDir, 'replicas')), 'an installation kept local state outside its own directory');

    // A restart collects orphans: pid files whose workload its Redis does not know.
    await stopPlane('beta');
    await startPlane('beta');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(alive(pid), "beta's restart killed alpha's workload");
    assert.equal((await status('alpha', 'alpha-long'))?.state, 'running');
    const own = await runCli(['cancel', 'alpha-long', '--installation', 'alpha', '--nats', servers().nats.url]);
    assert.equal(own.code, 0, own.stderr);
    await eventually(() => assert.ok(!alive(pid)));
  });
});
