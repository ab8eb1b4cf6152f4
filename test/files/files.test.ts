import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FileError,
  FileNotFoundError,
  FilePermissionError,
  FileTooLargeError,
  IsADirectoryError,
  Leasehold,
  NotADirectoryError,
  type SessionHandle,
} from '../../src/client/index.js';
import { parseCpEnd } from '../../src/cli/commands/cp.js';
import { bubblewrapLauncher } from '../../src/runtime/process/bubblewrap.js';
import { BIN, runCli, type CliResult } from '../helpers/cli.js';
import { startTestPlane, type TestPlane } from '../helpers/control-plane.js';
import { useServers } from '../helpers/servers.js';
import { startKube, type KubeHarness } from '../kubernetes/kube-harness.js';

const servers = useServers();
const bwrapUnavailable = bubblewrapLauncher().unavailableReason();
const MiB = 1024 * 1024;

/** Every character a shell would make something of, and a newline: it must stay one literal name. */
const HOSTILE_NAME = `a b 'q' "d" $(touch pwned) \`touch pwned\` ; touch pwned\nline two ünï`;

/** `leasehold …` with bytes on stdin, stdout kept as bytes. */
function runCliWithStdin(args: string[], stdin: Uint8Array): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
    child.stdin.end(stdin);
  });
}

describe('files in a session on the process runtime (real Redis, NATS, control plane)', () => {
  let tp: TestPlane;
  let lh: Leasehold;
  let session: SessionHandle;
  let dir: string;
  /** Where a `touch pwned` smuggled in a path would land. */
  let execCwd: string;

  before(async () => {
    tp = await startTestPlane(servers());
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    session = await lh.session({ type: 'trusted', leaseSeconds: 30 });
    dir = mkdtempSync(join(tmpdir(), 'leasehold-files-'));
    const pwd = session.exec(['pwd']);
    let out = '';
    for await (const chunk of pwd.stdout) out += Buffer.from(chunk).toString();
    execCwd = out.trim();
    assert.ok(execCwd.startsWith('/'), `the exec's working directory: ${out}`);
  });
  after(async () => {
    await session.close().catch(() => undefined);
    await lh.close();
    await tp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes 1 MiB of random bytes and reads back exactly the same bytes', async () => {
    const bytes = randomBytes(MiB);
    const path = join(dir, 'random.bin');
    assert.equal(await session.writeFile(path, bytes), MiB);
    assert.ok(readFileSync(path).equals(bytes), 'the file in the workload holds exactly the bytes sent');
    const back = await session.readFile(path);
    assert.ok(Buffer.from(back).equals(bytes), 'and they come back exactly');
    // Written again, shorter: replaced, not overwritten in place.
    await lh.writeFile(session.id, path, 'short');
    assert.equal(Buffer.from(await lh.readFile(session.id, path)).toString(), 'short');
  });

  it('keeps a path with spaces, quotes, $(…), backquotes and a newline literal: that file is written, and no other file appears', async () => {
    const path = join(dir, HOSTILE_NAME);
    await session.writeFile(path, 'literal');
    assert.equal(readFileSync(path, 'utf8'), 'literal');
    assert.equal(Buffer.from(await session.readFile(path)).toString(), 'literal');
    for (const where of [dir, execCwd]) assert.equal(existsSync(join(where, 'pwned')), false, `no command in the path ran (no ${where}/pwned)`);
  });

  it('writes a relative path that starts with a dash, with a mode: the name is never read as an option', async () => {
    assert.equal(await session.writeFile('-dashed.txt', 'dash', { mode: 0o600 }), 4);
    assert.equal(readFileSync(join(execCwd, '-dashed.txt'), 'utf8'), 'dash');
    assert.equal(statSync(join(execCwd, '-dashed.txt')).mode & 0o777, 0o600);
  });

  it('lists a directory with names of spaces, newlines, unicode, a leading dash, dots and globs exactly, with types and sizes', async () => {
    const listed = mkdtempSync(join(dir, 'list-'));
    const names = ['plain', 'with space', 'new\nline', 'ünïcödé 😀', '-rf', '.hidden', '..dots', '*', HOSTILE_NAME];
    for (const [i, name] of names.entries()) writeFileSync(join(listed, name), 'x'.repeat(i));
    mkdirSync(join(listed, 'sub dir'));
    symlinkSync('plain', join(listed, 'a link'));
    symlinkSync('nowhere', join(listed, 'dangling'));

    const entries = await session.listDir(listed);
    const expected = [
      ...names.map((name, i) => ({ name, type: 'file', size: i })),
      { name: 'sub dir', type: 'dir', size: null },
      { name: 'a link', type: 'link', size: null },
      { name: 'dangling', type: 'link', size: null },
    ].sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(entries, expected);
    for (const where of [listed, execCwd]) assert.equal(existsSync(join(where, 'pwned')), false);
    assert.deepEqual(await session.listDir(join(listed, 'sub dir')), [], 'an empty directory is an empty list, not its glob patterns');
  });

  it('stops a read past maxBytes with FileTooLargeError, even of a file that never ends', async () => {
    const path = join(dir, 'two-mib.bin');
    writeFileSync(path, randomBytes(2 * MiB));
    await assert.rejects(session.readFile(path, { maxBytes: MiB }), (error: unknown) => error instanceof FileTooLargeError && error.path === path && error.maxBytes === MiB);
    assert.equal((await session.readFile(path, { maxBytes: 2 * MiB })).length, 2 * MiB, 'exactly maxBytes is allowed');
    // Were the output held in full, this would never return.
    await assert.rejects(session.readFile('/dev/zero', { maxBytes: MiB }), FileTooLargeError);
    assert.equal((await session.readFile(path, { maxBytes: 2 * MiB })).length, 2 * MiB, 'the session is still usable afterwards');
  });

  it('names the path in typed errors: a missing file, a directory to read, a file to list, a missing parent to write in', async () => {
    const missing = join(dir, 'no such file');
    await assert.rejects(session.readFile(missing), (error: unknown) => error instanceof FileNotFoundError && error.path === missing && error.id === session.id && error.message.includes('no such file'));
    await assert.rejects(session.readFile(dir), (error: unknown) => error instanceof IsADirectoryError && error.path === dir);
    await assert.rejects(session.listDir(join(dir, 'random.bin')), NotADirectoryError);
    await assert.rejects(session.listDir(missing), FileNotFoundError);
    await assert.rejects(session.writeFile(join(dir, 'no dir', 'f'), 'x'), (error: unknown) => error instanceof FileNotFoundError && error.path === join(dir, 'no dir', 'f'));
    await assert.rejects(session.writeFile(dir, 'x'), IsADirectoryError);
  });

  it('ends a read that never finishes at timeoutMs, saying so, and lists a FIFO as other', async () => {
    const fifo = join(dir, 'fifo');
    assert.deepEqual(await session.exec(['mkfifo', fifo]).result, { exitCode: 0 });
    await assert.rejects(session.readFile(fifo, { timeoutMs: 500 }), (error: unknown) => error instanceof FileError && error.code === 'FILE_OPERATION_FAILED' && /without an exit code: timeout/.test(error.message));
    assert.deepEqual((await session.listDir(dir)).find((e) => e.name === 'fifo'), { name: 'fifo', type: 'other', size: null });
  });

  it('refuses a file the workload may not read or write, as FilePermissionError', { skip: process.getuid?.() === 0 ? 'running as root: permission bits do not stop root' : false }, async () => {
    const locked = join(dir, 'locked');
    writeFileSync(locked, 'secret');
    chmodSync(locked, 0o000);
    await assert.rejects(session.readFile(locked), FilePermissionError);
    await assert.rejects(session.writeFile(locked, 'x'), FilePermissionError);
  });

  it('sets the mode given, after the content (so a read-only mode does not refuse it)', async () => {
    const path = join(dir, 'run.sh');
    await session.writeFile(path, '#!/bin/sh\necho hi\n', { mode: 0o751 });
    assert.equal(statSync(path).mode & 0o777, 0o751);
    await session.writeFile(join(dir, 'ro'), 'kept', { mode: '444' });
    assert.equal(readFileSync(join(dir, 'ro'), 'utf8'), 'kept');
    await assert.rejects(session.writeFile(path, 'x', { mode: '7; rm -rf /' }), /mode must be octal/);
  });

  it('`leasehold cp` copies into a workload and out of it, files and - both ways, with 125 and the reason when it fails', async () => {
    const nats = ['--nats', servers().nats.url];
    const id = session.id;
    const local = join(dir, 'local.bin');
    const bytes = randomBytes(300 * 1024);
    writeFileSync(local, bytes);
    const inside = join(dir, 'copied in.bin');
    const up = await runCli(['cp', local, `${id}:${inside}`, ...nats]);
    assert.equal(up.code, 0, up.stderr);
    assert.ok(readFileSync(inside).equals(bytes));

    const outPath = join(dir, 'copied out.bin');
    const down = await runCli(['cp', `${id}:${inside}`, outPath, ...nats]);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(readFileSync(outPath).equals(bytes));

    const fromStdin = await runCliWithStdin(['cp', '-', `${id}:${join(dir, 'from stdin')}`, ...nats], bytes);
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.ok(readFileSync(join(dir, 'from stdin')).equals(bytes));
    const toStdout = await runCliWithStdin(['cp', `${id}:${inside}`, '-', ...nats], new Uint8Array());
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.ok(toStdout.stdout.equals(bytes), 'stdout carries the bytes and nothing else');

    const failures: Array<[string, CliResult, RegExp]> = [
      ['missing in the workload', await runCli(['cp', `${id}:${join(dir, 'nope')}`, join(dir, 'never'), ...nats]), /does not exist/],
      ['past --max-bytes', await runCli(['cp', '--max-bytes', '1000', `${id}:${inside}`, join(dir, 'never'), ...nats]), /larger than 1000 bytes/],
      ['missing locally', await runCli(['cp', join(dir, 'no local'), `${id}:${join(dir, 'never')}`, ...nats]), /cannot read/],
      ['no workload side', await runCli(['cp', local, join(dir, 'never'), ...nats]), /one side of cp must be <id>:<path>/],
    ];
    for (const [what, result, message] of failures) {
      assert.equal(result.code, 125, `${what}: ${result.stderr}`);
      assert.match(result.stderr, message, what);
    }
    assert.equal(existsSync(join(dir, 'never')), false, 'a failed copy out leaves no file behind');
  });
});

describe('leasehold cp arguments', () => {
  it('reads <id>:<path> as a workload file and everything else as local, so ./a:b and /x:y never reach a workload', () => {
    assert.deepEqual(parseCpEnd('my-session:/tmp/a b'), { kind: 'workload', id: 'my-session', path: '/tmp/a b' });
    assert.deepEqual(parseCpEnd('my-session:rel:ative'), { kind: 'workload', id: 'my-session', path: 'rel:ative' });
    for (const local of ['./a:b', '/x:y', 'Upper:case', '-', 'plain']) assert.deepEqual(parseCpEnd(local), { kind: 'local', path: local });
    assert.throws(() => parseCpEnd('my-session:'), /no path inside it/);
  });
});

describe('files in a bubblewrap session', { skip: bwrapUnavailable ? `bubblewrap cannot create a sandbox here: ${bwrapUnavailable}` : false }, () => {
  let tp: TestPlane;
  let lh: Leasehold;
  let session: SessionHandle;
  let hostDir: string;

  before(async () => {
    tp = await startTestPlane(servers());
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    session = await lh.session({ type: 'untrusted', leaseSeconds: 30 });
    hostDir = mkdtempSync(join(tmpdir(), 'leasehold-host-'));
  });
  after(async () => {
    await session.close().catch(() => undefined);
    await lh.close();
    await tp.stop();
    rmSync(hostDir, { recursive: true, force: true });
  });

  it("writes and reads 1 MiB exactly in the sandbox's own /tmp, which is not the host's", async () => {
    const bytes = randomBytes(MiB);
    const path = `/tmp/leasehold-files-${randomBytes(4).toString('hex')}`;
    await session.writeFile(path, bytes);
    assert.ok(Buffer.from(await session.readFile(path)).equals(bytes));
    assert.equal(existsSync(path), false, 'the file is in the sandbox, not on the host');
    assert.deepEqual(
      (await session.listDir('/tmp')).filter((e) => e.name === path.slice(5)),
      [{ name: path.slice(5), type: 'file', size: MiB }],
    );
  });

  it('cannot write /etc/passwd, a read-only system directory or a host path: the sandbox refuses, with a typed error', async () => {
    const passwd = readFileSync('/etc/passwd');
    await assert.rejects(session.writeFile('/etc/passwd', 'root::0:0::/:/bin/sh\n'), FileError);
    assert.ok(readFileSync('/etc/passwd').equals(passwd), "the host's /etc/passwd is unchanged");
    await assert.rejects(session.writeFile('/usr/leasehold-planted', 'x'), FilePermissionError);
    assert.equal(existsSync('/usr/leasehold-planted'), false);
    const hostPath = join(hostDir, 'planted');
    await assert.rejects(session.writeFile(hostPath, 'x'), FileError);
    assert.equal(existsSync(hostPath), false, 'nothing appeared on the host');
  });
});

describe('files in a session on the Kubernetes runtime (fake API server, Pod exec)', () => {
  let kube: KubeHarness;
  let tp: TestPlane;
  let lh: Leasehold;
  let session: SessionHandle;

  before(async () => {
    kube = await startKube();
    tp = await startTestPlane(servers(), {
      runtime: 'kubernetes',
      kubernetes: { kubeconfig: kube.kubeconfig, namespace: 'jobs', sandboxNamespace: 'sandbox', runtimeClass: 'gvisor' },
    });
    lh = await Leasehold.connect({ redis: servers().redis.url, nats: servers().nats.url, keyPrefix: tp.config.keyPrefix });
    session = await lh.session({ type: 'untrusted', leaseSeconds: 30 });
  });
  after(async () => {
    await session.close().catch(() => undefined);
    await lh.close();
    await tp.stop();
    await kube.stop();
  });

  it('writes, reads back and lists files through the Pod exec subresource, byte for byte and name for name', async () => {
    const base = `/tmp/leasehold-files-${randomBytes(4).toString('hex')}`;
    try {
      assert.deepEqual(await session.exec(['mkdir', base]).result, { exitCode: 0 });
      const bytes = randomBytes(MiB);
      await session.writeFile(`${base}/random.bin`, bytes);
      assert.ok(Buffer.from(await session.readFile(`${base}/random.bin`)).equals(bytes));
      await session.writeFile(`${base}/${HOSTILE_NAME}`, 'literal');
      assert.deepEqual(await session.listDir(base), [
        { name: HOSTILE_NAME, type: 'file', size: 7 },
        { name: 'random.bin', type: 'file', size: MiB },
      ]);
      await assert.rejects(session.readFile(`${base}/random.bin`, { maxBytes: 1000 }), FileTooLargeError);
      await assert.rejects(session.readFile(`${base}/missing`), FileNotFoundError);
    } finally {
      await session.exec(['rm', '-rf', base]).result.catch(() => undefined);
    }
  });
});
