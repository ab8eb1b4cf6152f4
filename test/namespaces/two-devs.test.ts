import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holdStateDir } from '../../src/dev/state-lock.js';
import { BIN, runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';

interface Dev {
  child: ChildProcess;
  redis: string;
  nats: string;
  exited: Promise<number | null>;
  output: () => string;
}

/** `leasehold dev` with `TMPDIR` set, so that its default state dir is `<tmp>/leasehold`. */
function spawnDev(tmp: string, args: string[] = []) {
  const child = spawn(process.execPath, [BIN, 'dev', '--http-port', '0', '--grace', '500', ...args], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function startDev(tmp: string, args: string[] = []): Promise<Dev> {
  const dev = spawnDev(tmp, args);
  let failed = false;
  void dev.exited.then(() => (failed = true));
  await eventually(() => {
    if (failed) throw new Error(`dev exited:\n${dev.output()}`);
    assert.match(dev.output(), /Leasehold is running\.[\s\S]*Ctrl-C stops/);
  }, 30_000).catch((error: unknown) => {
    dev.child.kill('SIGKILL');
    throw error;
  });
  const url = (name: string) => new RegExp(`^  ${name}\\s+(\\S+)`, 'm').exec(dev.output())![1]!;
  return { ...dev, redis: url('Redis'), nats: url('NATS') };
}

async function stopDev(dev: Dev): Promise<void> {
  dev.child.kill('SIGINT');
  await dev.exited;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of a dev's local workloads, from the pid files below its state dir. */
function workloadPids(stateDir: string): Map<string, number> {
  const pids = new Map<string, number>();
  let replicas: string[] = [];
  try {
    replicas = readdirSync(join(stateDir, 'replicas'));
  } catch {
    return pids;
  }
  for (const replica of replicas) {
    const dir = join(stateDir, 'replicas', replica, 'process', 'pids');
    for (const file of readdirSync(dir, { withFileTypes: true }).filter((f) => f.name.endsWith('.json'))) {
      pids.set(file.name.slice(0, -'.json'.length), (JSON.parse(readFileSync(join(dir, file.name), 'utf8')) as { pid: number }).pid);
    }
  }
  return pids;
}

describe('two `leasehold dev` on one machine', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'leasehold-devs-'));
  const defaultDir = join(tmp, 'leasehold');
  const betaDir = join(defaultDir, 'installations', 'beta');
  const devs: Dev[] = [];
  const workloads: number[] = [];
  after(async () => {
    for (const dev of devs) if (dev.child.exitCode === null && dev.child.signalCode === null) await stopDev(dev);
    for (const pid of workloads) if (alive(pid)) process.kill(-pid, 'SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  });

  const run = async (dev: Dev, id: string, args: string[] = []) => {
    const submitted = await runCli(['submit', '--id', id, '--redis', dev.redis, '--nats', dev.nats, ...args, '--', 'sleep', '120']);
    assert.equal(submitted.code, 0, submitted.stderr);
    await eventually(async () => assert.equal(await state(dev, id, args), 'running'), 15_000);
  };
  const state = async (dev: Dev, id: string, args: string[] = []) => {
    const result = await runCli(['status', id, '-o', 'json', '--nats', dev.nats, ...args]);
    return result.code === 0 ? (JSON.parse(result.stdout) as { state: string }).state : result.stderr.trim();
  };

  it('a second dev on the state dir a live one holds is refused in one line, and the first goes on untouched', async () => {
    const first = await startDev(tmp);
    devs.push(first);
    await run(first, 'first-job');
    const pid = workloadPids(defaultDir).get('first-job')!;
    workloads.push(pid);

    const second = spawnDev(tmp);
    // Old versions started a second Redis on the first's files and ran on: stop it if so.
    const code = await Promise.race([second.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 20_000).unref())]);
    if (code === 'running') {
      second.child.kill('SIGINT');
      await second.exited;
    }
    assert.equal(code, 2, second.output());
    assert.equal(
      second.output(),
      `leasehold: another leasehold dev (pid ${first.child.pid}) is using the state directory ${defaultDir}; stop it, or run this one with --installation <name> (its own directory, Redis and subjects) or --state-dir <dir>\n`,
    );
    assert.ok(alive(pid));
    assert.equal(await state(first, 'first-job'), 'running');
  });

  it("a dev of another installation runs beside it, and stopping or restarting either leaves the other's workloads running", async () => {
    const first = devs[0]!;
    const firstPid = workloadPids(defaultDir).get('first-job')!;
    const beta = await startDev(tmp, ['--installation', 'beta']);
    devs.push(beta);
    await run(beta, 'beta-job', ['--installation', 'beta']);
    const betaPid = workloadPids(betaDir).get('beta-job')!;
    workloads.push(betaPid);
    assert.notEqual(betaPid, firstPid);
    assert.equal(await state(first, 'beta-job'), 'leasehold: no workload beta-job', 'the first dev knows of beta-job');

    // Restarting beta: its Redis comes back from its own append-only file, not the first's.
    await stopDev(beta);
    const betaAgain = await startDev(tmp, ['--installation', 'beta']);
    devs.push(betaAgain);
    assert.ok(alive(firstPid), "restarting beta killed the first dev's workload");
    assert.equal(await state(first, 'first-job'), 'running');
    assert.equal(await state(betaAgain, 'first-job', ['--installation', 'beta']), 'leasehold: no workload first-job', 'beta restored the first dev\'s workload');
    await run(betaAgain, 'beta-job-2', ['--installation', 'beta']);
    const beta2Pid = workloadPids(betaDir).get('beta-job-2')!;
    workloads.push(beta2Pid);

    // Stopping, then restarting, the first.
    await stopDev(first);
    assert.ok(alive(beta2Pid), "stopping the first dev killed beta's workload");
    const firstAgain = await startDev(tmp);
    devs.push(firstAgain);
    assert.ok(alive(beta2Pid), "restarting the first dev killed beta's workload");
    assert.equal(await state(betaAgain, 'beta-job-2', ['--installation', 'beta']), 'running');
    assert.equal(await state(firstAgain, 'beta-job-2'), 'leasehold: no workload beta-job-2');
  });

  it('the lock of a dev that died (kill -9, pid gone or reused) is taken over; a live one is not', () => {
    const dir = join(tmp, 'lock-only');
    // A pid that is no process now.
    const gone = spawn('true');
    const deadPid = gone.pid!;
    const lock = holdStateDir(dir);
    lock.release();
    writeFileSync(join(dir, 'dev.lock'), JSON.stringify({ pid: deadPid, startTime: '1' }));
    const taken = holdStateDir(dir);
    assert.throws(() => holdStateDir(dir), /another leasehold dev \(pid \d+\) is using the state directory/);
    taken.release();
    // Our own pid with another start time: a reused pid, not the dev that wrote it.
    writeFileSync(join(dir, 'dev.lock'), JSON.stringify({ pid: process.pid, startTime: 'not-now' }));
    holdStateDir(dir).release();
    // Junk in the file is no holder.
    writeFileSync(join(dir, 'dev.lock'), 'junk');
    holdStateDir(dir).release();
  });
});
