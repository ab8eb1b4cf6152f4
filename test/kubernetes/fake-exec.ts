import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { ServerWebSocket } from './fake-websocket.js';

/**
 * `pods/<name>/exec` the way kube-apiserver and the kubelet speak it over WebSocket (the
 * "channel" protocols of k8s.io/apimachinery wsstream and the kubelet's remotecommand server):
 * every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (a
 * `metav1.Status` as JSON, sent once when the command ends, before the server closes), 4 resize
 * (a tty's size, which the fake reads and drops).
 * `v5.channel.k8s.io` adds the client's half-close: [255, channel] ends that channel (stdin's EOF);
 * with `v4.channel.k8s.io` a client cannot end stdin without closing everything.
 *
 * The fake "runs" the command as a local child process with the same argv, so tests see real
 * output and exit codes. As on a real node, closing the connection does not end the command
 * (kubernetes/kubernetes#89031): it runs until it exits or its Pod is deleted.
 */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;

/** What `PodExecOptions` in the query string asks for. */
export interface ExecQuery {
  readonly argv: string[];
  readonly container: string | null;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

export function parseExecQuery(url: URL): ExecQuery {
  const flag = (name: string) => ['true', '1'].includes(url.searchParams.get(name) ?? '');
  return {
    argv: url.searchParams.getAll('command'),
    container: url.searchParams.get('container'),
    stdin: flag('stdin'),
    stdout: flag('stdout'),
    stderr: flag('stderr'),
    tty: flag('tty'),
  };
}

/**
 * Runs `query.argv` for an accepted connection and returns the child (the caller ends it when the
 * Pod goes). A tty is not emulated: the command gets pipes either way, and resize messages are read
 * and dropped.
 */
export function runExec(ws: ServerWebSocket, query: ExecQuery, environment: { env: Record<string, string>; cwd: string }): ChildProcess {
  const child = spawn(query.argv[0]!, query.argv.slice(1), {
    cwd: environment.cwd,
    env: environment.env,
    stdio: [query.stdin ? 'pipe' : 'ignore', query.stdout ? 'pipe' : 'ignore', query.stderr || query.tty ? 'pipe' : 'ignore'],
  });
  const send = (channel: number, data: Buffer) => ws.send(Buffer.concat([Buffer.of(channel), data]));
  // As the kubelet does: an empty message on the lowest output channel says the stream is set up.
  send(query.stdout ? STDOUT : query.stderr ? STDERR : ERROR, Buffer.alloc(0));
  child.stdout?.on('data', (chunk: Buffer) => send(STDOUT, chunk));
  child.stderr?.on('data', (chunk: Buffer) => send(query.tty ? STDOUT : STDERR, chunk));
  child.stdin?.on('error', () => {}); // the command may exit without reading what it was sent

  const supportsClose = ws.protocol === 'v5.channel.k8s.io';
  ws.onMessage = (data) => {
    if (data.length === 0) return;
    const channel = data[0]!;
    if (supportsClose && channel === CLOSE) {
      if (data[1] === STDIN) child.stdin?.end();
      return;
    }
    // RESIZE ({"Width":…,"Height":…}) is read and dropped: there is no tty to resize.
    if (channel === STDIN) child.stdin?.write(data.subarray(1));
  };

  let ended = false;
  const end = (status: object) => {
    if (ended) return;
    ended = true;
    send(ERROR, Buffer.from(JSON.stringify(status)));
    ws.close();
  };
  child.on('error', (error) => {
    end({
      metadata: {},
      status: 'Failure',
      message: `OCI runtime exec failed: exec failed: unable to start container process: exec: "${query.argv[0]}": ${error.message}: unknown`,
      reason: 'InternalError',
      code: 500,
    });
  });
  // 'close', not 'exit': every byte of output has been sent before the exit status.
  child.on('close', (code, signal) => {
    const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
    end(exitStatus(query.argv, exitCode));
  });
  return child;
}

/** The Status the kubelet reports for an exit code (client-go turns it into an ExitError). */
export function exitStatus(argv: readonly string[], exitCode: number): object {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}
