import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RuntimeError } from '../../errors.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../exec.js';
import type { ExecEnding } from './exec-ending.js';
import { removeAbandonedDirs } from '../../heartbeat-socket-dir.js';
import { pumpStdin } from './exec-stdin.js';
import { CONTROL_FIFO } from './sandbox-exec-server.js';

const run = promisify(execFile);
const { O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK, O_NOFOLLOW } = constants;

/** Requests the sandbox has not read yet, in bytes, beyond which an exec is refused: its server is not reading. */
const CONTROL_BACKLOG_BYTES = 1024 * 1024;
/** As for a local exec: output still in the pipes when the command exits may take this long to arrive. */
const DRAIN_AFTER_EXIT_MS = 200;
/** After asking the sandbox to kill an exec, how long to wait for it to be gone before returning. */
const KILL_WAIT_MS = 1_000;
const HOST_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
/**
 * The server's status lines are a few bytes; the sandbox can write to that pipe too, and a line
 * that never ends must not grow in the control plane's memory.
 */
const MAX_STATUS_LINE = 1024;

/**
 * The control plane's end of a sandbox's exec server (sandbox-exec-server.ts). The channel is a
 * directory of named pipes that the control plane makes on the host and binds read-only into the
 * sandbox: the sandbox can open the pipes it is given but create, rename or replace nothing there,
 * so nothing the control plane opens can be a link the sandbox planted, and the sandbox gains no
 * writable host storage. Every pipe is opened non-blocking: a sandbox that never opens its end
 * cannot tie up one of Node's threads.
 */
export class SandboxExecChannel {
  private constructor(
    /** On the host; bound read-only into the sandbox at SANDBOX_EXEC_DIR. */
    readonly dir: string,
    private readonly control: Socket,
  ) {}

  private spare: Promise<string> | null = null;

  /** Makes `dir` (which must not exist) with its control pipe, held open for writing (and reading, so that writes never fail for want of a reader). */
  static async open(dir: string): Promise<SandboxExecChannel> {
    mkdirSync(dir, { mode: 0o711 });
    chmodSync(dir, 0o711); // whatever the umask
    const path = join(dir, CONTROL_FIFO);
    await makeFifos([path], 0o644);
    const fd = openSync(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW);
    const control = new Socket({ fd, readable: false, writable: true });
    control.on('error', () => undefined); // only ever ends with the channel
    const channel = new SandboxExecChannel(dir, control);
    channel.spare = makeSlot(dir);
    channel.spare.catch(() => undefined);
    return channel;
  }

  async exec(request: ExecRequest, output: ExecOutput, ending: ExecEnding): Promise<ExecResult> {
    if (this.control.destroyed) throw new RuntimeError('WORKLOAD_NOT_RUNNING', 'the sandbox is being torn down');
    if (this.control.writableLength > CONTROL_BACKLOG_BYTES) {
      throw new RuntimeError('EXEC_UNAVAILABLE', 'the sandbox is not taking exec requests (its exec server is not reading them)', { transient: true });
    }
    const slot = await this.takeSlot();
    const path = (stream: string) => join(this.dir, `${slot}.${stream}`);
    const withStdin = request.stdin !== undefined;
    const pipes = new Pipes();
    try {
      const status = pipes.reader(path('status'));
      const stdout = pipes.reader(path('out'));
      const stderr = pipes.reader(path('err'));
      const stdin = withStdin ? pipes.writer(path('in')) : null;
      stdout.on('data', (chunk: Buffer) => output.stdout(chunk));
      stderr.on('data', (chunk: Buffer) => output.stderr(chunk));
      const lines = statusLines(status);
      this.send(`run ${slot} ${requestFields(request).map(encodeField).join(' ')}\n`);

      let started = false;
      const ended = ending.ended().then(() => null);
      for (;;) {
        const next = await Promise.race([lines.next(), ended]);
        if (next === null) {
          this.send(`kill ${slot}\n`);
          pipes.closePlaceholders();
          await Promise.race([lines.end, sleep(KILL_WAIT_MS)]);
          return { exitCode: null, reason: ending.reason ?? 'cancelled' };
        }
        if (next.done) return { exitCode: null, reason: 'the command ended inside the sandbox without reporting an exit code (killed there, or the sandbox ended)' };
        const [verb, ...rest] = next.value.split(' ');
        if (verb === 'ready' && !started) {
          started = true;
          // The command holds its ends now: from here on, end of file means it closed them.
          pipes.closePlaceholders();
          if (request.stdin && stdin) void pumpStdin(request.stdin, stdin, ending.signal);
        } else if (verb === 'nostart') {
          return { exitCode: null, reason: `cannot start ${request.cmd[0]}: ${rest.join(' ')}` };
        } else if (verb === 'overlong') {
          this.send(`kill ${slot}\n`);
          return { exitCode: null, reason: 'the sandbox wrote a status line of more than 1 KiB; the exec was ended' };
        } else if (verb === 'exit') {
          const exitCode = Number(rest[0]);
          pipes.closePlaceholders();
          await Promise.race([Promise.all([closed(stdout), closed(stderr)]), sleep(DRAIN_AFTER_EXIT_MS), ended]);
          return Number.isInteger(exitCode) ? { exitCode } : { exitCode: null, reason: `the sandbox reported an exit status that is not a number: ${rest[0]}` };
        }
      }
    } finally {
      // The server forgets the slot (after a kill too, which is harmless).
      this.send(`done ${slot}\n`);
      pipes.closeAll();
      for (const name of SLOT_PIPES) rmSync(path(name), { force: true });
    }
  }

  /**
   * A slot whose pipes are made, and the next one started: making them takes a process (mkfifo,
   * as Node has no call for it), which is then off the path of the next exec.
   */
  private takeSlot(): Promise<string> {
    const taken = this.spare ?? makeSlot(this.dir);
    this.spare = makeSlot(this.dir);
    this.spare.catch(() => undefined); // a channel closed meanwhile; the next take makes its own
    return taken;
  }

  close(): void {
    this.control.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private send(line: string): void {
    if (!this.control.destroyed) this.control.write(line);
  }
}

const EXEC_DIRS_PREFIX = 'leasehold-exec-';

/**
 * Where the sandboxes' exec directories live: in the temporary directory, not the state directory,
 * because bwrap runs as the sandbox user and must reach the directory it binds in (a state
 * directory is usually 0700). The parent is 0711 and each sandbox's directory has a random
 * 128-bit name, so no other user of this host can find one. The parent's name carries our pid, so
 * that a later start removes what a control plane killed with -9 left (heartbeat-socket-dir.ts does
 * the same for sockets).
 */
export class ExecDirs {
  readonly root: string;

  constructor(parent = tmpdir()) {
    removeAbandonedDirs(parent, EXEC_DIRS_PREFIX);
    this.root = mkdtempSync(join(parent, `${EXEC_DIRS_PREFIX}${process.pid}-`));
    chmodSync(this.root, 0o711);
  }

  /** A fresh, unused path for one sandbox's directory. */
  make(): string {
    return join(this.root, randomBytes(16).toString('hex'));
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}


/**
 * The pipes of one exec. Each read end comes with a write end of our own (and the stdin pipe's
 * write end with a read end) held until the command has opened its ends: a pipe that nobody has
 * opened for writing reads as ended at once, and one nobody reads cannot be opened for writing.
 */
class Pipes {
  private readonly placeholders: number[] = [];
  private readonly sockets: Socket[] = [];

  reader(path: string): Socket {
    const fd = openSync(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
    const socket = this.wrap(fd, true);
    this.placeholders.push(openSync(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW));
    return socket;
  }

  writer(path: string): Socket {
    this.placeholders.push(openSync(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW));
    return this.wrap(openSync(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW), false);
  }

  closePlaceholders(): void {
    for (const fd of this.placeholders.splice(0)) closeSync(fd);
  }

  closeAll(): void {
    this.closePlaceholders();
    for (const socket of this.sockets) socket.destroy();
  }

  private wrap(fd: number, readable: boolean): Socket {
    let socket: Socket;
    try {
      socket = new Socket({ fd, readable, writable: !readable });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    // A command that closes its stdin makes our writes fail with EPIPE: not an error of the exec.
    socket.on('error', () => undefined);
    this.sockets.push(socket);
    return socket;
  }
}

/** What the server reads, in order: stdin (1 or 0), cwd, the number of env pairs, the pairs as NAME=VALUE, then argv. */
export function requestFields(request: ExecRequest): string[] {
  const env = Object.entries({ ...request.env, ...request.controlEnv }).map(([name, value]) => `${name}=${value}`);
  return [request.stdin ? '1' : '0', request.cwd ?? '.', String(env.length), ...env, ...request.cmd];
}

/** Bytes that stand for themselves in a field; none is blank, a backslash or a glob character. */
const PLAIN_BYTE = /^[A-Za-z0-9_./=:,+@%-]$/;

/**
 * One field as the server's `printf %b` turns it back into bytes: every other byte as `\xHH`, so a
 * field holds no space, newline or backslash of its own, and a `:` in front so that an empty field
 * is still a word. Decoding runs inside bash, with no process started: a base64 decoder cost a fork
 * and an exec per request. (NUL bytes, which a bash string cannot hold, checkExecRequest refused.)
 */
export function encodeField(field: string): string {
  let out = ':';
  for (const byte of Buffer.from(field)) {
    const char = String.fromCharCode(byte);
    out += byte < 0x80 && PLAIN_BYTE.test(char) ? char : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function statusLines(socket: Socket): { next(): Promise<IteratorResult<string>>; end: Promise<void> } {
  const queue: string[] = [];
  let buffered = '';
  let done = false;
  let wake: (() => void) | null = null;
  const end = new Promise<void>((resolve) => socket.once('close', resolve));
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    buffered += text;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    queue.push(...parts);
    if (buffered.length > MAX_STATUS_LINE) {
      queue.push('overlong');
      socket.destroy();
    }
    wake?.();
  });
  void end.then(() => {
    done = true;
    wake?.();
  });
  return {
    end,
    async next() {
      while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      const line = queue.shift();
      return line === undefined ? { done: true, value: undefined } : { done: false, value: line };
    },
  };
}


function closed(socket: Socket): Promise<void> {
  if (socket.readableEnded || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Each exec's pipes: its status lines, stdout and stderr (the sandbox writes), stdin (the sandbox reads). */
const SLOT_PIPES = ['status', 'out', 'err', 'in'] as const;

async function makeSlot(dir: string): Promise<string> {
  const slot = randomBytes(16).toString('hex');
  const path = (stream: string) => join(dir, `${slot}.${stream}`);
  await makeFifos(SLOT_PIPES.map(path), 0o600);
  for (const name of ['status', 'out', 'err']) chmodSync(path(name), 0o622);
  chmodSync(path('in'), 0o644);
  return slot;
}

async function makeFifos(paths: readonly string[], mode: number): Promise<void> {
  try {
    await run('mkfifo', ['-m', mode.toString(8), '--', ...paths], { env: { PATH: HOST_PATH } });
  } catch (error) {
    throw new RuntimeError('EXEC_UNAVAILABLE', `cannot make the exec pipes (${String((error as { stderr?: string }).stderr ?? error).trim()})`, { cause: error, transient: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
