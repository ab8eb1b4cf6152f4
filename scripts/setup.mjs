// Installs what Leasehold needs on a fresh machine, and nothing when it is all there: a supported
// Node (fetched into .node/ when the machine's is older than 22.19), npm packages (npm ci) and the
// Debian packages redis-server, nats-server, bubblewrap (and chromium and kubectl, with --tests)
// (apt-get, when running as root; otherwise it says exactly what to install).
// Plain Node with no dependencies, because it runs before `npm ci`, under any Node.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeSetupError, isSupported, root, runUnder, supportedNode } from './node-runtime.mjs';

const say = (line) => process.stderr.write(`setup: ${line}\n`);

if (isSupported()) {
  setup();
} else {
  // The rest (npm ci included: npm's shebang finds the first `node` on PATH) runs under the
  // fetched Node, so that npm checks engines against the Node that will run the code.
  let node;
  try {
    node = supportedNode(say);
  } catch (error) {
    if (!(error instanceof NodeSetupError)) throw error;
    say(error.message);
    process.exit(1);
  }
  runUnder(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
}

function setup() {
  const installed = join(root, 'node_modules/.package-lock.json');
  if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(join(root, 'package-lock.json')).mtimeMs) {
    say('installing npm packages (npm ci)');
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  }

  /** binary → Debian package */
  const wanted = { 'redis-server': 'redis-server', 'nats-server': 'nats-server', bwrap: 'bubblewrap', prlimit: 'util-linux' };
  // --tests: also Chromium, which the inspector's browser test drives with playwright-core, and
  // kubectl, which renders manifests/ and talks to the fake API server.
  if (process.argv.includes('--tests')) Object.assign(wanted, { chromium: 'chromium', kubectl: 'kubernetes-client' });
  const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
  const missing = [...new Set(Object.entries(wanted).filter(([bin]) => !onPath(bin)).map(([, pkg]) => pkg))];
  if (missing.length > 0) {
    if (process.getuid?.() === 0 && onPath('apt-get')) {
      say(`installing ${missing.join(' ')} with apt-get`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
    } else {
      say(`missing: ${missing.join(' ')}. Install them first, for example: sudo apt-get install ${missing.join(' ')}`);
      process.exit(1);
    }
  }
}
