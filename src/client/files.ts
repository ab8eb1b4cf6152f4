import { LeaseholdError } from '../errors.js';
import type { ExecHandle, ExecOptions } from './exec.js';

/**
 * Files into and out of a running workload, built on exec: each call is one exec of a fixed
 * `/bin/sh -c <script>` whose path arrives as an argument (`$1`), never spliced into the script,
 * so a path is always a path, whatever characters it holds. An exec gets the workload's own
 * isolation, permissions and lease renewal, so files get them too: a sandbox's read-only `/etc`
 * refuses a write here as it refuses one from inside.
 */

/** How files.ts reaches a workload; `Leasehold.exec`, or the CLI's exec on its own connection. */
export type ExecFn = (id: string, cmd: readonly string[], options?: ExecOptions) => ExecHandle;

/** The most `readFile` returns by default: past it the read is stopped, not buffered. */
export const DEFAULT_READ_MAX_BYTES = 16 * 1024 * 1024;

export interface WriteFileOptions {
  /** Permission bits set after writing, as chmod takes them (`'600'`, `0o600`). Default: the file's own, or the umask's. */
  readonly mode?: number | string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface ReadFileOptions {
  /** Past this many bytes the read is stopped and fails with `FileTooLargeError`; default 16 MiB. */
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface DirEntry {
  /** The name exactly as the directory holds it (decoded as UTF-8). */
  readonly name: string;
  readonly type: 'file' | 'dir' | 'link' | 'other';
  /** Bytes, for a regular file that could be read; null otherwise. */
  readonly size: number | null;
}

/** A file operation's failure that names the workload and the path. */
export class FileError extends LeaseholdError {
  constructor(
    code: string,
    readonly id: string,
    readonly path: string,
    message: string,
  ) {
    super(code, message);
  }
}

export class FileNotFoundError extends FileError {
  constructor(id: string, path: string) {
    super('FILE_NOT_FOUND', id, path, `${quote(path)} does not exist in ${id}`);
  }
}

export class IsADirectoryError extends FileError {
  constructor(id: string, path: string) {
    super('IS_A_DIRECTORY', id, path, `${quote(path)} in ${id} is a directory`);
  }
}

export class NotADirectoryError extends FileError {
  constructor(id: string, path: string) {
    super('NOT_A_DIRECTORY', id, path, `${quote(path)} in ${id} is not a directory`);
  }
}

/** Refused by the workload: permissions, a read-only file system (a sandbox's own limits). */
export class FilePermissionError extends FileError {
  constructor(id: string, path: string, detail: string) {
    super('FILE_PERMISSION_DENIED', id, path, `${quote(path)} in ${id}: ${detail}`);
  }
}

export class FileTooLargeError extends FileError {
  constructor(
    id: string,
    path: string,
    readonly maxBytes: number,
  ) {
    super('FILE_TOO_LARGE', id, path, `${quote(path)} in ${id} is larger than ${maxBytes} bytes (the read was stopped there; raise maxBytes / --max-bytes to read it)`);
  }
}

/** Any other failure of the command (its exit code and first bytes of stderr in the message). */
export class FileOperationError extends FileError {
  constructor(id: string, path: string, message: string) {
    super('FILE_OPERATION_FAILED', id, path, message);
  }
}

// Exit codes the scripts use to say what went wrong (sysexits-like, distinct from cat's own 1).
const NOT_FOUND = 66;
const IS_DIR = 67;
const NOT_DIR = 68;
const DENIED = 77;
const WRITE_FAILED = 73;

/**
 * `$1` the path, `$2` the mode (or empty). Content first, then chmod: a mode like 0444 would
 * otherwise refuse the content. `wc -c` after: the size that landed, checked against what was sent.
 */
const WRITE_SCRIPT = `[ -d "$1" ] && exit ${IS_DIR}
cat > "$1" || exit ${WRITE_FAILED}
if [ -n "$2" ]; then chmod -- "$2" "$1" || exit ${WRITE_FAILED}; fi
wc -c < "$1"`;

const READ_SCRIPT = `[ -e "$1" ] || exit ${NOT_FOUND}
[ -d "$1" ] && exit ${IS_DIR}
[ -r "$1" ] || exit ${DENIED}
exec cat -- "$1"`;

/**
 * Portable to busybox and GNU: only test, printf, wc and globs. The three globs together match
 * every name but . and .. (a pattern that matches nothing comes back literal: the -e/-L test
 * drops it). Records are type, size, name, each NUL-terminated: NUL is the one byte no name holds.
 */
const LIST_SCRIPT = `[ -e "$1" ] || exit ${NOT_FOUND}
[ -d "$1" ] || exit ${NOT_DIR}
[ -r "$1" ] && [ -x "$1" ] || exit ${DENIED}
cd -- "$1" || exit ${DENIED}
for f in * .[!.]* ..?*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  s=
  if [ -L "$f" ]; then t=link
  elif [ -d "$f" ]; then t=dir
  elif [ -f "$f" ]; then t=file; s=$(wc -c < "$f" 2>/dev/null) || s=
  else t=other
  fi
  printf '%s\\0%s\\0%s\\0' "$t" "$s" "$f"
done`;

const sh = (script: string, ...args: string[]) => ['/bin/sh', '-c', script, 'sh', ...args];

/** Writes `content` to `path` in workload `id`, replacing what is there; resolves with the bytes written. */
export async function writeFileIn(exec: ExecFn, id: string, path: string, content: Uint8Array | string | AsyncIterable<Uint8Array>, options: WriteFileOptions = {}): Promise<number> {
  checkPath(path);
  const mode = modeArg(options.mode);
  let sent = 0;
  async function* counted(): AsyncIterable<Uint8Array> {
    const source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = typeof content === 'string' ? [Buffer.from(content)] : content instanceof Uint8Array ? [content] : content;
    for await (const chunk of source) {
      sent += chunk.length;
      yield chunk;
    }
  }
  const outcome = await run(exec, id, sh(WRITE_SCRIPT, path, mode), { ...execOptions(options), stdin: counted() }, 64);
  if (outcome.exitCode !== 0) throw failure(id, path, outcome, 'write');
  const landed = Number(Buffer.from(outcome.stdout).toString().trim());
  if (landed !== sent) throw new FileOperationError(id, path, `writing ${quote(path)} in ${id}: ${sent} bytes sent, ${Number.isFinite(landed) ? landed : 'an unknown number of'} bytes landed`);
  return sent;
}

/** The bytes of `path` in workload `id`; fails with `FileTooLargeError` past `maxBytes`, holding no more than that. */
export async function readFileIn(exec: ExecFn, id: string, path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
  checkPath(path);
  const maxBytes = options.maxBytes ?? DEFAULT_READ_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new Error(`maxBytes must be a whole number of bytes, not ${String(maxBytes)}`);
  const outcome = await run(exec, id, sh(READ_SCRIPT, path), execOptions(options), maxBytes);
  if (outcome.overflowed) throw new FileTooLargeError(id, path, maxBytes);
  if (outcome.exitCode !== 0) throw failure(id, path, outcome, 'read');
  return outcome.stdout;
}

/** The entries of directory `path` in workload `id` (not . and ..), sorted by name. */
export async function listDirIn(exec: ExecFn, id: string, path: string, options: ReadFileOptions = {}): Promise<DirEntry[]> {
  checkPath(path);
  const maxBytes = options.maxBytes ?? DEFAULT_READ_MAX_BYTES;
  const outcome = await run(exec, id, sh(LIST_SCRIPT, path), execOptions(options), maxBytes);
  if (outcome.overflowed) throw new FileTooLargeError(id, path, maxBytes);
  if (outcome.exitCode !== 0) throw failure(id, path, outcome, 'list');
  return parseListing(id, path, Buffer.from(outcome.stdout));
}

export function parseListing(id: string, path: string, bytes: Buffer): DirEntry[] {
  const fields: string[] = [];
  let at = 0;
  for (let nul = bytes.indexOf(0, at); nul !== -1; nul = bytes.indexOf(0, at)) {
    fields.push(bytes.subarray(at, nul).toString('utf8'));
    at = nul + 1;
  }
  if (at !== bytes.length || fields.length % 3 !== 0) throw new FileOperationError(id, path, `listing ${quote(path)} in ${id}: the listing came back malformed`);
  const entries: DirEntry[] = [];
  for (let i = 0; i < fields.length; i += 3) {
    const [type, size, name] = [fields[i]!, fields[i + 1]!.trim(), fields[i + 2]!];
    if (type !== 'file' && type !== 'dir' && type !== 'link' && type !== 'other') throw new FileOperationError(id, path, `listing ${quote(path)} in ${id}: unknown entry type ${quote(type)}`);
    entries.push({ name, type, size: size === '' || !/^\d+$/.test(size) ? null : Number(size) });
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

interface RunOutcome {
  exitCode: number | null;
  /** Why it ended without an exit code (timeout, cancelled…). */
  reason?: string;
  stdout: Uint8Array;
  stderr: string;
  overflowed: boolean;
}

/** Runs one exec, keeping at most `maxBytes` of stdout: one byte more and the command is stopped. */
async function run(exec: ExecFn, id: string, cmd: string[], options: ExecOptions, maxBytes: number): Promise<RunOutcome> {
  const handle = exec(id, cmd, options);
  const chunks: Uint8Array[] = [];
  let held = 0;
  let overflowed = false;
  const readStdout = (async () => {
    for await (const chunk of handle.stdout) {
      if (overflowed) continue; // draining what was already in flight
      if (held + chunk.length > maxBytes) {
        overflowed = true;
        chunks.length = 0;
        handle.abort(new Error('past maxBytes'));
        continue;
      }
      chunks.push(chunk);
      held += chunk.length;
    }
  })();
  const readStderr = (async () => {
    let text = '';
    for await (const chunk of handle.stderr) if (text.length < 4096) text += Buffer.from(chunk).toString();
    return text.slice(0, 4096);
  })();
  try {
    const result = await handle.result;
    await readStdout;
    return { exitCode: result.exitCode, ...(result.reason !== undefined ? { reason: result.reason } : {}), stdout: Buffer.concat(chunks), stderr: await readStderr, overflowed };
  } catch (error) {
    await readStdout;
    if (overflowed) return { exitCode: null, stdout: new Uint8Array(), stderr: await readStderr, overflowed };
    throw error;
  }
}

function failure(id: string, path: string, { exitCode, stderr, reason }: RunOutcome, what: 'read' | 'write' | 'list'): FileError {
  if (exitCode === NOT_FOUND) return new FileNotFoundError(id, path);
  if (exitCode === IS_DIR) return new IsADirectoryError(id, path);
  if (exitCode === NOT_DIR) return new NotADirectoryError(id, path);
  if (exitCode === DENIED) return new FilePermissionError(id, path, 'permission denied');
  // The shell's own words differ (dash, busybox, bash); the errno's text does not.
  const denied = /Permission denied|Read-only file system|Operation not permitted/i.exec(stderr);
  if (denied) return new FilePermissionError(id, path, denied[0].toLowerCase());
  if (/No such file|nonexistent/i.test(stderr)) return new FileNotFoundError(id, path);
  const detail = stderr.trim().split('\n').slice(-1)[0] ?? '';
  return new FileOperationError(id, path, `${what} of ${quote(path)} in ${id} failed (${exitCode === null ? `ended without an exit code: ${reason ?? 'no reason given'}` : `exit code ${exitCode}`})${detail ? `: ${detail}` : ''}`);
}

function checkPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0) throw new Error('path must be a non-empty string');
  if (path.includes('\0')) throw new Error('path must not contain NUL bytes');
}

function modeArg(mode: WriteFileOptions['mode']): string {
  if (mode === undefined) return '';
  const text = typeof mode === 'number' ? mode.toString(8) : mode;
  if (!/^[0-7]{3,4}$/.test(text)) throw new Error(`mode must be octal permission bits (e.g. '644' or 0o644), not ${String(mode)}`);
  return text;
}

function execOptions(options: { timeoutMs?: number; signal?: AbortSignal }): ExecOptions {
  return { ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}), ...(options.signal ? { signal: options.signal } : {}) };
}

const quote = (path: string) => JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
