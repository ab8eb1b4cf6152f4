import { PassThrough, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
// Not re-exported by the package's index, but the only way to give Exec streams of our own (below);
// the package has no `exports` map, and tsc fails the build if the module goes.
import { WebSocketHandler, type WebSocketInterface } from '@kubernetes/client-node/dist/web-socket-handler.js';
import { RuntimeError } from '../../errors.js';
import { checkExecRequest } from '../exec-check.js';
import { PID_LINE, pidLineFirst } from '../exec-pid.js';
import type { ExecOutput, ExecRequest, ExecResult } from '../exec.js';
import { toRuntimeError } from './api-errors.js';

export interface PodTarget {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  /**
   * The container is known to have a POSIX shell (it runs a session's keeper): the command is then
   * started through one that reports its pid first, so that a cancel or a timeout can stop it.
   */
  readonly shell?: boolean;
}

/** What we use of the WebSocket client-node hands back (`ws`, whose types the project does not install). */
interface ExecSocket {
  readonly protocol: string;
  /** Bytes sent but not yet on the wire. */
  readonly bufferedAmount: number;
  close(): void;
  on(event: 'close', listener: (code: number) => void): void;
}

/** The only subprotocol in which a client can end stdin without ending the whole exec. */
const HALF_CLOSE_PROTOCOL = 'v5.channel.k8s.io';
/**
 * client-node sends stdin as fast as it is read and the socket buffers what the network has not
 * taken, so a large stdin would sit in memory whole; reading pauses above this.
 */
const STDIN_BUFFER_BYTES = 1024 * 1024;

/**
 * The exec API has no env or working directory, so a command that needs either runs under
 * `/bin/sh -c WRAPPER cwd K=V… -- argv…`. The script is a constant: the cwd, each `K=V` and every
 * argument reach the shell as positional parameters, and `export "$1"` and `exec "$@"` never
 * evaluate them. A `K=V` always holds `=`, so it can never be the `--` that ends the list.
 * Needs a POSIX `/bin/sh` in the image (busybox, dash, bash); a command without env and cwd runs
 * as its own argv, with no shell.
 */
const WRAPPER = 'cd -- "$0" || exit 126; while [ "$1" != -- ]; do export "$1" || exit 126; shift; done; shift; exec "$@"';

/**
 * Closing the exec stream does not stop the command (the kubelet only closes its stdin), and the
 * exec API has no signal. So where a shell is known to be there, the command starts through one
 * that reports its pid first (exec-pid.ts), and a cancel kills it with a second exec.
 */
export function wrapCommand(request: ExecRequest, killable = false): string[] {
  checkExecRequest(request);
  const env = Object.entries({ ...request.env, ...request.controlEnv });
  if (!killable && request.cwd === undefined && env.length === 0) return [...request.cmd];
  // `./` keeps a relative cwd off CDPATH, where cd would also print the directory to stdout.
  const cwd = request.cwd === undefined ? '.' : request.cwd.startsWith('/') ? request.cwd : `./${request.cwd}`;
  return ['/bin/sh', '-c', (killable ? PID_LINE : '') + WRAPPER, cwd, ...env.map(([name, value]) => `${name}=${value}`), '--', ...request.cmd];
}

/**
 * Runs `request` in a Pod's container through the `pods/exec` subresource over WebSocket
 * (client-node's Exec), streaming output to `output` as it arrives. Ends with the command's exit
 * code, or with `reason` 'timeout' or 'cancelled' after closing the stream. As everywhere in
 * Kubernetes, closing the stream does not stop the command in the container
 * (kubernetes/kubernetes#89031): it runs on until it exits or the Pod ends.
 */
export async function execInPod(
  kubeConfig: KubeConfig,
  target: PodTarget,
  request: ExecRequest,
  output: ExecOutput,
  signal: AbortSignal,
): Promise<ExecResult> {
  const killable = target.shell === true;
  const argv = wrapCommand(request, killable);
  if (signal.aborted) return { exitCode: null, reason: 'cancelled' };
  const stop = new AbortController();
  let why: string | null = null;
  const end = (reason: string) => {
    if (why !== null) return;
    why = reason;
    stop.abort();
  };
  const onAbort = () => end('cancelled');
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = request.timeoutMs === undefined ? undefined : setTimeout(() => end('timeout'), request.timeoutMs);

  const stdin = request.stdin ? new PassThrough() : null;
  let pid: number | null = null;
  const stdout = sink(output.stdout, end);
  const stderr = sink(killable ? pidLineFirst(output.stderr, (found) => (pid = found)) : output.stderr, end);
  // Our own streams, not client-node's default of this process's stdin/stdout/stderr, which a
  // server's close message (channel 255) would end.
  const handler = new WebSocketHandler(kubeConfig, undefined, { stdin: stdin ?? new PassThrough(), stdout, stderr });
  const tolerant: WebSocketInterface = {
    // client-node throws on a channel it does not know (4 resize, 255 close, from a server), and
    // it would throw out of the socket's event handler, taking the process down.
    connect: (path, text, binary) => handler.connect(path, text, binary && ((channel, data) => (channel > 3 ? true : binary(channel, data)))),
  };
  let status: V1Status | null = null;
  try {
    const connecting = new Exec(kubeConfig, tolerant)
      .exec(target.namespace, target.pod, target.container, argv, stdout, stderr, stdin, false, (s) => (status = s))
      .then((ws) => ws as unknown as ExecSocket);
    const socket = await Promise.race([connecting, aborted(stop.signal)]).catch((error: unknown) => {
      throw connectError(error, target.namespace);
    });
    if (socket === null) {
      void connecting.then(
        (late) => late.close(),
        () => {},
      );
      return { exitCode: null, reason: why ?? 'cancelled' };
    }
    const closed = new Promise<number>((resolve) => socket.on('close', resolve));
    if (request.stdin && stdin) {
      void pump(request.stdin, stdin, socket, stop.signal).catch((error: unknown) => end(`stdin failed: ${(error as Error).message}`));
    }
    const code = await Promise.race([closed, aborted(stop.signal)]);
    if (status) return resultOf(status);
    socket.close();
    if (why !== null && pid !== null) killInPod(kubeConfig, target, pid);
    if (why !== null) return { exitCode: null, reason: why };
    return { exitCode: null, reason: `the exec stream closed (WebSocket code ${code}) before the command's exit status arrived` };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    stop.abort(); // ends a stdin pump still waiting for the source or the network
    stdin?.destroy();
  }
}

/** SIGTERM, then SIGKILL 2 s later if it is still there: as a teardown's grace, shorter. */
const KILL_SCRIPT = 'kill -TERM "$0" 2>/dev/null || exit 0; sleep 2; kill -KILL "$0" 2>/dev/null; exit 0';

/** Stops a cancelled command through an exec of its own; best effort (the Pod may be going). */
function killInPod(kubeConfig: KubeConfig, target: PodTarget, pid: number): void {
  const quiet = { stdout: () => undefined, stderr: () => undefined };
  void execInPod(kubeConfig, { ...target, shell: false }, { cmd: ['/bin/sh', '-c', KILL_SCRIPT, String(pid)] }, quiet, new AbortController().signal).catch(() => undefined);
}

/** The exit code in the Status the kubelet sends on the error channel. */
function resultOf(status: V1Status): ExecResult {
  if (status.status === 'Success') return { exitCode: 0 };
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const exitCode = Number(cause?.message);
  if (status.reason === 'NonZeroExitCode' && Number.isInteger(exitCode)) return { exitCode };
  return { exitCode: null, reason: status.message ?? 'the command could not be run in the container' };
}

/**
 * client-node rejects with the WebSocket's error, which carries the HTTP status only in its text
 * (`Unexpected server response: 403`); this gives it back to the usual Kubernetes error mapping.
 */
function connectError(error: unknown, namespace: string): RuntimeError {
  if (error instanceof RuntimeError) return error;
  const message = (error as { message?: unknown } | null)?.message;
  const text = typeof message === 'string' ? message : String(error);
  const code = /Unexpected server response: (\d{3})/.exec(text)?.[1];
  const wrapped = Object.assign(new Error(text, { cause: error }), code ? { statusCode: Number(code) } : {});
  return toRuntimeError(wrapped, { verb: 'create', resource: 'pods/exec', namespace });
}

/** Copies stdin into the stream client-node sends; ends it only where the protocol can say so. */
async function pump(source: AsyncIterable<Uint8Array>, into: PassThrough, socket: ExecSocket, stop: AbortSignal): Promise<void> {
  for await (const chunk of source) {
    if (stop.aborted) return;
    into.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)); // flows straight to the socket
    while (socket.bufferedAmount > STDIN_BUFFER_BYTES) {
      await delay(5, undefined, { signal: stop }).catch(() => {});
      if (stop.aborted) return;
    }
  }
  // With v4, client-node closes the whole connection at stdin's end, losing the output still to
  // come; there the command sees no end of stdin (only v5, Kubernetes 1.30+, can send one).
  if (socket.protocol === HALF_CLOSE_PROTOCOL && !stop.aborted) into.end();
}

/** A Writable that hands each chunk on at once; a consumer that throws ends the exec. */
function sink(deliver: (chunk: Uint8Array) => void, fail: (reason: string) => void): Writable {
  const writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        deliver(chunk);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  // client-node ends these when the exit status arrives; anything later, or a consumer's error, ends here.
  writable.on('error', (error) => fail(`output failed: ${error.message}`));
  return writable;
}

function aborted(signal: AbortSignal): Promise<null> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(null);
    else signal.addEventListener('abort', () => resolve(null), { once: true });
  });
}
