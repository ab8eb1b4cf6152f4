// Which Node runs Leasehold's scripts, and fetching a supported one when the machine's is too old.
// Plain ESM with no dependencies and nothing newer than Node 16 syntax: it runs under whatever
// `node` is on PATH, before `npm ci`, and its whole job is to cope with an old one.
//
// A supported Node comes from the npm registry, the one registry every machine of ours reaches:
// the `node-linux-<arch>` packages ship the official binary as `bin/node` (the `node` package
// instead runs an install script that fetches one of those, so we go to the source). A pinned
// version with a pinned integrity: the same bytes every time, served from npm's cache when it
// has them, and a binary nobody swapped under us.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The oldest Node that runs everything (undici 8, under client-node 2, needs 22.19). */
export const MIN_NODE = '22.19.0';
/** The Node we build for and ship. */
export const DEFAULT_MAJOR = 24;

/** Pinned builds per major and CPU: version and the registry's sha512 of the package tarball. */
const PINNED = {
  24: {
    version: '24.22.3',
    integrity: {
      x64: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
      arm64: 'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==',
    },
  },
  22: {
    version: '22.23.5',
    integrity: {
      x64: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
      arm64: 'sha512-e1LOUGKVruPGuLVutn8+Cgm5pI1APm4Kvh+zbb/qe/ZpD9s+TQby5iUgZOWmPpbSKpj0Td8DP1N0NEnXasHizg==',
    },
  },
};

const INSTALL_HINT = `install Node.js 24 LTS (or 22.19 or newer) from https://nodejs.org or your package manager, put it first on PATH, and run the command again`;

/** A failure to get a supported Node, with a message that says what to do instead. */
export class NodeSetupError extends Error {}

/** Compares dotted versions numerically ("v20.20.2" vs "22.19.0"). */
export function atLeast(version, minimum) {
  const a = version.replace(/^v/, '').split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) > (b[i] || 0);
  }
  return true;
}

export function isSupported(version = process.version) {
  return atLeast(version, MIN_NODE);
}

/** Where the pinned Node of a major lives in the project (gitignored). */
export function fetchedNodePath(major = DEFAULT_MAJOR) {
  const pin = PINNED[major];
  if (!pin) throw new NodeSetupError(`no pinned Node ${major}; choose one of ${Object.keys(PINNED).join(', ')}`);
  return join(root, '.node', `v${pin.version}`, 'bin', 'node');
}

/**
 * The pinned Node of a major, fetched from the npm registry unless it is already in `.node/`.
 * Says so in one line when it fetches. Throws NodeSetupError where it cannot work.
 */
export function ensureNode(major = DEFAULT_MAJOR, say = defaultSay) {
  const target = fetchedNodePath(major);
  if (existsSync(target)) return target;
  const pin = PINNED[major];
  const integrity = process.platform === 'linux' ? pin.integrity[process.arch] : undefined;
  if (!integrity) {
    throw new NodeSetupError(`no Node ${pin.version} build to fetch for ${process.platform}-${process.arch} (Leasehold needs ${MIN_NODE} or newer; this is ${process.version}): ${INSTALL_HINT}`);
  }
  const spec = `node-linux-${process.arch}@${pin.version}`;
  say(`${isSupported() ? '' : `Node ${process.version} is older than ${MIN_NODE}: `}fetching Node ${pin.version} (${spec}) from the npm registry into .node/`);
  const work = mkdtempSync(join(tmpdir(), 'leasehold-node-'));
  try {
    let tarball;
    try {
      // --prefer-offline: a tarball already in npm's cache is not fetched again. One quick retry:
      // npm's default three, a minute apart, look like a hang behind the line above.
      const flags = ['--prefer-offline', '--loglevel=error', '--fetch-retries=1', '--fetch-retry-mintimeout=2000', '--fetch-retry-maxtimeout=5000'];
      const out = execFileSync('npm', ['pack', spec, ...flags, '--pack-destination', work], {
        cwd: work,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      tarball = join(work, out.trim().split('\n').pop());
    } catch (error) {
      // npm's own words, less its pointer to a log file: the error code and what the request met.
      const said = String(error.stderr || '').split('\n').filter((line) => /^npm error (code |\w*Error|request )/.test(line));
      const detail = said.map((line) => line.replace(/^npm error /, '')).join('; ') || error.message.split('\n')[0];
      throw new NodeSetupError(`could not fetch ${spec} from the npm registry (${detail}): ${INSTALL_HINT}`);
    }
    const actual = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (actual !== integrity) throw new NodeSetupError(`${spec} from the registry is not the pinned build (integrity ${actual}); refusing to run it: ${INSTALL_HINT}`);
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['xzf', tarball, '-C', unpacked, '--strip-components=1', 'package/bin/node', 'package/LICENSE'], { stdio: 'inherit' });
    let version = '';
    try {
      version = execFileSync(join(unpacked, 'bin/node'), ['--version'], { encoding: 'utf8' }).trim();
    } catch (error) {
      throw new NodeSetupError(`the fetched Node ${pin.version} does not run here (${error.message.split('\n')[0]}; a musl libc?): ${INSTALL_HINT}`);
    }
    if (version !== `v${pin.version}`) throw new NodeSetupError(`the fetched Node says ${version}, not v${pin.version}: ${INSTALL_HINT}`);
    // Moved into place whole, so a fetch that died half-way never leaves a broken .node/.
    mkdirSync(join(root, '.node'), { recursive: true });
    try {
      renameSync(unpacked, dirname(dirname(target)));
    } catch (error) {
      if (!existsSync(target)) throw error; // else another setup fetched it at the same time
    }
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A Node that can run Leasehold: this one if it is new enough, else the fetched one. */
export function supportedNode(say = defaultSay) {
  return isSupported() ? process.execPath : ensureNode(DEFAULT_MAJOR, say);
}

/** The environment for a child run by `node`: that Node first on PATH, so `node` and npm's shebang find it. */
export function envFor(node, env = process.env) {
  return { ...env, PATH: `${dirname(node)}${delimiter}${env.PATH ?? ''}` };
}

/**
 * Runs `node args…` as a child and ends this process the way the child ended. The child shares
 * our process group, so a Ctrl-C reaches it straight from the terminal; a SIGTERM or SIGHUP sent
 * to us alone (a supervisor, `kill`) is passed on.
 */
export function runUnder(node, args) {
  const child = spawn(node, args, { stdio: 'inherit', env: envFor(node) });
  const forward = (signal) => child.kill(signal);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  process.on('SIGINT', () => {});
  child.on('error', (error) => {
    process.stderr.write(`cannot start ${node}: ${error.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGHUP');
    process.removeAllListeners('SIGINT');
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

function defaultSay(line) {
  process.stderr.write(`setup: ${line}\n`);
}
