import { createConnection, type Socket } from 'node:net';
import { RuntimeError } from '../../errors.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../exec.js';
import type { ExecEnding } from '../process/exec-ending.js';

/**
 * The guest agent's vsock port (guest/leasehold-exec-agent). Above 1023: the guest kernel reserves
 * the ports below for CAP_NET_BIND_SERVICE, and the agent listens as an unprivileged user.
 */
export const AGENT_PORT = 10240;
/** A stdin chunk's size: 3 KiB are 4 KiB of base64, one line the agent reads and decodes at a time. */
const STDIN_CHUNK = 3 * 1024;
/**
 * Stdin chunks sent ahead of the agent's acks. The agent passes them through a pipe (64 KiB) that
 * must never fill, or it could no longer hear `kill`: 8 lines of 4 KiB stay well inside it.
 */
const STDIN_WINDOW = 8;
/** The agent's lines are under 1 KiB; a longer one is not the agent speaking (a hostile guest). */
const MAX_LINE = 8 * 1024;
/** Firecracker answers a CONNECT within its own 2 s timeout; past this the VMM itself is stuck. */
const HANDSHAKE_MS = 5_000;
/** After asking the agent to kill the command, how long to wait for its exit line before hanging up. */
const KILL_WAIT_MS = 1_000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface VsockExecOptions {
  /** The host end of the VM's vsock device (its `uds_path`, as seen from this host). */
  readonly socketPath: string;
  readonly port?: number;
  /**
   * Until then, a refused connection is retried: the guest is still booting and its agent not yet
   * listening. After it, a refusal means there is no agent.
   */
  readonly retryUntil?: number;
}

/**
 * Runs one exec through the guest agent: a host-initiated vsock connection (Firecracker's
 * `CONNECT <port>` / `OK <hostport>` on the device's Unix socket), then the agent's line protocol
 * (see the agent's header). Each exec is a connection of its own, so several run at once.
 */
export async function execOverVsock(options: VsockExecOptions, request: ExecRequest, output: ExecOutput, ending: ExecEnding): Promise<ExecResult> {
  const lines = requestLines(request);
  const connecting = connectAgent(options, ending.signal);
  const socket = await Promise.race([connecting, ending.ended().then(() => null)]);
  if (socket === null) {
    // Ended while connecting: a connection made after all is hung up at once, and the agent, which
    // then reads no request, runs nothing.
    connecting.then((late) => late.destroy(), () => undefined);
    return { exitCode: null, reason: ending.reason ?? 'cancelled' };
  }
  try {
    return await converse(socket, lines, request, output, ending);
  } finally {
    socket.destroy();
  }
}

function converse(socket: Socket, requestText: readonly string[], request: ExecRequest, output: ExecOutput, ending: ExecEnding): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    let inFlight = 0;
    let wakeStdin: (() => void) | null = null;
    const finish = (result: ExecResult) => {
      if (settled) return;
      settled = true;
      wakeStdin?.();
      resolve(result);
    };
    const send = (line: string) => {
      if (!socket.destroyed) socket.write(`${line}\n`);
    };

    const lines = lineReader(socket, (line) => {
      const space = line.indexOf(' ');
      const verb = space < 0 ? line : line.slice(0, space);
      const value = space < 0 ? '' : line.slice(space + 1);
      switch (verb) {
        case 'out':
          return output.stdout(Buffer.from(value, 'base64'));
        case 'err':
          return output.stderr(Buffer.from(value, 'base64'));
        case 'ack':
          inFlight = Math.max(0, inFlight - 1);
          wakeStdin?.();
          return;
        case 'exit': {
          if (ending.reason !== null) return finish({ exitCode: null, reason: ending.reason });
          const code = /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN;
          return finish(code <= 255 ? { exitCode: code } : { exitCode: null, reason: `the guest agent reported an exit status that is not one: ${value.slice(0, 32)}` });
        }
        case 'refused':
          settled = true;
          return reject(new RuntimeError('EXEC_REFUSED', `the guest agent refused the exec: ${Buffer.from(value, 'base64').toString('utf8')}`));
        default:
          send('kill');
          return finish({ exitCode: null, reason: 'the guest agent answered outside its protocol; the exec was ended' });
      }
    }, () => {
      send('kill');
      finish({ exitCode: null, reason: 'the guest agent sent a line of more than 8 KiB; the exec was ended' });
    });
    socket.once('close', () =>
      finish(ending.reason !== null ? { exitCode: null, reason: ending.reason } : { exitCode: null, reason: 'the connection to the guest agent closed before the command ended (the VM stopped, or the agent was killed)' }),
    );

    void ending.ended().then(async () => {
      if (settled) return;
      send('kill');
      // The exit line (137) or the hang-up, whichever first; the result is the ending's reason.
      await Promise.race([lines.closed, sleep(KILL_WAIT_MS)]);
      finish({ exitCode: null, reason: ending.reason ?? 'cancelled' });
    });

    for (const line of requestText) send(line);

    if (request.stdin) {
      const stdin = request.stdin;
      const ready = () =>
        new Promise<void>((wake) => {
          if (settled || inFlight < STDIN_WINDOW) return wake();
          wakeStdin = wake;
        });
      void (async () => {
        try {
          for await (const chunk of stdin) {
            for (let at = 0; at < chunk.length; at += STDIN_CHUNK) {
              await ready();
              if (settled) return;
              inFlight += 1;
              send(`in ${Buffer.from(chunk.subarray(at, at + STDIN_CHUNK)).toString('base64')}`);
            }
          }
        } catch {
          // A failing stdin source ends the command's stdin, nothing more.
        }
        if (!settled) send('eof');
      })();
    }
  });
}

/** The request as the agent reads it: env before argv, every value base64. */
export function requestLines(request: ExecRequest): string[] {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  const env = Object.entries({ ...request.env, ...request.controlEnv });
  // checkExecRequest checked the asker's names; the control plane's own go through the same door.
  const badName = env.find(([name]) => !ENV_NAME.test(name));
  if (badName) throw new RuntimeError('INVALID_EXEC', `exec env name ${JSON.stringify(badName[0])} is not a valid variable name`);
  return [
    'leasehold-exec 1',
    ...(request.cwd !== undefined ? [`cwd ${b64(request.cwd)}`] : []),
    ...(request.stdin ? ['stdin 1'] : []),
    ...env.map(([name, value]) => `env ${name} ${b64(value)}`),
    ...request.cmd.map((arg) => `arg ${b64(arg)}`),
    'run',
  ];
}

/** Connects to the agent through the VM's vsock device; a refusal is retried while the guest may still be booting. */
async function connectAgent(options: VsockExecOptions, stop: AbortSignal): Promise<Socket> {
  const port = options.port ?? AGENT_PORT;
  for (;;) {
    try {
      return await handshake(options.socketPath, port);
    } catch (error) {
      // While the guest boots, neither the VMM's socket nor the agent may be there yet.
      if (Date.now() >= (options.retryUntil ?? 0) || stop.aborted) {
        throw new RuntimeError(
          'EXEC_UNAVAILABLE',
          `cannot exec in this microVM: ${(error as Error).message}. The guest needs the agent (leasehold-exec-agent, started by leasehold-init with socat); see README, "Firecracker"`,
          { cause: error },
        );
      }
      await sleep(50);
    }
  }
}

function handshake(path: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let answer = '';
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`the VM's vsock device did not answer CONNECT ${port} within ${HANDSHAKE_MS} ms`)), HANDSHAKE_MS);
    socket.once('connect', () => socket.write(`CONNECT ${port}\n`));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      fail(error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? new Error(`the VM has no vsock device listening at ${path} (${error.code})`) : error),
    );
    // Firecracker hangs up when nothing in the guest listens on the port.
    socket.once('close', () => fail(new Error(`nothing in the guest answers on vsock port ${port}`)));
    const onData = (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      const end = answer.indexOf('\n');
      if (end < 0) {
        if (answer.length > 64) fail(new Error('the vsock device answered CONNECT with something else than OK'));
        return;
      }
      socket.off('data', onData);
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      clearTimeout(timer);
      if (!/^OK \d+$/.test(answer.slice(0, end))) return fail(new Error(`the vsock device answered CONNECT ${port} with ${JSON.stringify(answer.slice(0, end))}`));
      socket.pause();
      // What came after OK is already the agent speaking.
      const rest = Buffer.from(answer.slice(end + 1), 'latin1');
      if (rest.length > 0) socket.unshift(rest);
      socket.on('error', () => undefined); // ends as a close, which the exec reports
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

function lineReader(socket: Socket, onLine: (line: string) => void, onOverlong: () => void): { closed: Promise<void> } {
  let buffered = '';
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    buffered += text;
    let end: number;
    while ((end = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      onLine(line);
    }
    if (buffered.length > MAX_LINE) {
      buffered = '';
      onOverlong();
    }
  });
  socket.resume();
  return { closed };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
